# The two commands of the README, plus bench. Every target installs what it needs first.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
DATA_DIR ?= data

.PHONY: deps build test run bench clean test-asan crash-test fuzz fuzz-build

deps:
	@bash scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD_DIR) -j $(JOBS)

# The suite, then every fuzz target for FUZZ_TEST_SECONDS on its seeds
# (clang build in build-fuzz; fails on any crash or sanitizer report).
FUZZ_TEST_SECONDS ?= 5
test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) --timeout 600
	@bash scripts/fuzz.sh build
	@bash scripts/fuzz.sh run $(FUZZ_TEST_SECONDS)

# libFuzzer targets of fuzz/ (docs/fuzzing.md), FUZZ_SECONDS each, one
# process at a time; the corpus grows in build-fuzz/corpus, not in fuzz/corpus.
FUZZ_SECONDS ?= 600
fuzz-build: deps
	@bash scripts/fuzz.sh build
fuzz: fuzz-build
	@bash scripts/fuzz.sh run $(FUZZ_SECONDS)

# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer, in its
# own build directory (here: about 21 min to build on 2 cores, 9 min to run).
ASAN_BUILD_DIR ?= build-asan
test-asan: deps
	@cmake -S . -B $(ASAN_BUILD_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCAIRN_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD_DIR) -j $(JOBS)
	@cd $(ASAN_BUILD_DIR) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j $(JOBS) --timeout 1800

# The kill -9 test of make test, 100 kills instead of 20.
KILLS ?= 100
crash-test: build
	@python3 tests/crash/serve_kill_test.py --binary $(BUILD_DIR)/cairn --kills $(KILLS)

run: build
	@bash scripts/run.sh $(BUILD_DIR) $(DATA_DIR)

bench: build
	@bash scripts/bench.sh $(BUILD_DIR) $(DATA_DIR)

clean:
	rm -rf $(BUILD_DIR) build-fuzz
