#!/usr/bin/env bash
# `make run`: the project's main job of the moment. Today: fetch Fashion-MNIST
# from its Debian package, build a Cairn SPANN index on it (heads in RAM,
# postings on SSD) and print the search report for its 10,000 test queries.
# A rerun reuses the data set and the finished build stages.
set -euo pipefail
BUILD_DIR=${1:-build}
DATA_DIR=${2:-data}
CAIRN="$BUILD_DIR/cairn"
FM="$DATA_DIR/fashion-mnist"
INDEX="$DATA_DIR/fashion-mnist.cairn"

echo "== cairn dataset fetch fashion-mnist --out $FM"
"$CAIRN" dataset fetch fashion-mnist --out "$FM"

echo
echo "== cairn build --input $FM/base.fbin --out $INDEX"
"$CAIRN" build --input "$FM/base.fbin" --metric l2 --out "$INDEX"

echo
echo "== cairn search (single-threaded, O_DIRECT reads, k=10, default parameters)"
"$CAIRN" search --index "$INDEX" --queries "$FM/query.fbin" --gt "$FM/gt.ibin" --k 10 \
  --json "$DATA_DIR/search-fashion-mnist.json"
echo
echo "report written to $DATA_DIR/search-fashion-mnist.json"
echo "compare with the reference libraries: make bench"
