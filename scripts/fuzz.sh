#!/usr/bin/env bash
# The libFuzzer targets of fuzz/ (docs/fuzzing.md).
#   fuzz.sh build          configure build-fuzz with clang and build the targets only
#   fuzz.sh run SECONDS    run each target for SECONDS on a working copy of its seed
#                          corpus; prints executions per target and the total; fails
#                          on any crash, sanitizer report, timeout or leak
# FUZZ_BUILD_DIR (default build-fuzz), FUZZ_TARGETS (default: all), JOBS.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}
JOBS=${JOBS:-$(nproc)}
ALL_TARGETS=$(sed -n '/^set(CAIRN_FUZZERS/,/)/p' fuzz/CMakeLists.txt | grep -o '[a-z_]*_fuzzer')
TARGETS=${FUZZ_TARGETS:-$ALL_TARGETS}

build() {
  local launcher=()
  if command -v ccache >/dev/null 2>&1; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
  CC=clang-14 CXX=clang++-14 cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCAIRN_FUZZ=ON "${launcher[@]}" >/dev/null
  # Only the targets and the libraries they link: not the tests, bench or CLI.
  cmake --build "$BUILD_DIR" --target fuzzers -j "$JOBS"
}

run() {
  local seconds=$1 total=0 failed=()
  # The working corpus grows across runs; the seeds in fuzz/corpus stay as committed.
  mkdir -p "$BUILD_DIR/corpus" "$BUILD_DIR/artifacts" "$BUILD_DIR/logs"
  printf '%-26s %14s %8s\n' target executions seconds
  for t in $TARGETS; do
    local work="$BUILD_DIR/corpus/$t" log="$BUILD_DIR/logs/$t.log"
    mkdir -p "$work" "$BUILD_DIR/artifacts/$t"
    cp -n fuzz/corpus/"$t"/* "$work"/ 2>/dev/null || true
    local start=$SECONDS rc=0
    ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
      "$BUILD_DIR/fuzz/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$BUILD_DIR/artifacts/$t/" "$work" \
      >"$log" 2>&1 || rc=$?
    local execs
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    execs=${execs:-0}
    total=$((total + execs))
    printf '%-26s %14s %8s\n' "$t" "$execs" "$((SECONDS - start))"
    if [ "$rc" -ne 0 ]; then
      failed+=("$t")
      echo "--- $t failed (exit $rc); last lines of $log:" >&2
      tail -40 "$log" >&2
    fi
  done
  printf '%-26s %14s\n' total "$total"
  if [ ${#failed[@]} -ne 0 ]; then
    echo "fuzz: findings in ${failed[*]} (inputs in $BUILD_DIR/artifacts/)" >&2
    return 1
  fi
}

case "${1:-}" in
  build) build ;;
  run) run "${2:?seconds per target}" ;;
  *) echo "usage: $0 build | run SECONDS" >&2; exit 2 ;;
esac
