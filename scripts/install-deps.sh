#!/usr/bin/env bash
# Installs every Debian package Cairn needs to build, test and benchmark.
# Idempotent: when everything is present it only runs dpkg-query and exits.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config
  python3                 # scripts/check_layers.py and scripts/long_functions.py in ctest
  python3-venv            # the Python client's test installs it with pip into a fresh venv
  libboost-dev            # Asio and Beast (header-only in Boost 1.74)
  liburing-dev            # io_uring reads
  libopenblas-dev         # SGEMM for k-means and ground truth
  nlohmann-json3-dev      # JSON for reports, and later the REST API
  libabsl-dev             # absl::Status, Mutex, flat_hash_map
  libgtest-dev libgmock-dev
  libxxhash-dev           # checksums of on-disk formats (XXH3: fast, well tested)
  libcli11-dev            # the cairn command line (subcommands, validation, help text)
  zlib1g-dev              # gzip IDX files of Fashion-MNIST
  libhnswlib-dev          # the head graph (index/spann) and a reference method in the harness
  libfaiss-dev            # reference method and ground-truth cross-check in the harness
  dataset-fashion-mnist   # the real data set of make run and the benchmarks
  clang-14 libclang-rt-14-dev  # libFuzzer and the sanitizers of the fuzz targets (make fuzz)
  libomp-14-dev           # OpenMP for clang (find_package(OpenMP) in the fuzz build)
)

missing=()
# Node.js and npm run the Qdrant JS client compatibility test (tests/compat):
# whatever nodejs the machine's apt sources offer, npm from Debian when the
# nodejs package does not bundle it.
if ! command -v node >/dev/null 2>&1; then missing+=(nodejs); fi
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
if ! command -v npm >/dev/null 2>&1; then
  $SUDO apt-get install -y -qq --no-install-recommends npm >/dev/null
fi
echo "install-deps: done" >&2
