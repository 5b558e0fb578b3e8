#!/usr/bin/env bash
# `make run`: the project's main job of the moment. Today: fetch Fashion-MNIST
# from its Debian package, compute its exact ground truth (timed against
# faiss), and benchmark the reference methods on it.
set -euo pipefail
BUILD_DIR=${1:-build}
DATA_DIR=${2:-data}
CAIRN="$BUILD_DIR/cairn"
FM="$DATA_DIR/fashion-mnist"

echo "== cairn dataset fetch fashion-mnist --out $FM"
"$CAIRN" dataset fetch fashion-mnist --out "$FM"

echo
echo "== cairn bench gt: exact top-100 ground truth, cairn vs faiss IndexFlatL2"
"$CAIRN" bench gt --base "$FM/base.fbin" --queries "$FM/query.fbin" --k 100

echo
echo "== cairn bench: reference methods on Fashion-MNIST (2,000 queries, single-threaded search)"
"$CAIRN" bench --base "$FM/base.fbin" --queries "$FM/query.fbin" --gt "$FM/gt.ibin" \
  --methods hnswlib,faiss-ivf-flat,faiss-ivf-pq-refine --max-queries 2000 \
  --json "$DATA_DIR/bench-fashion-mnist.json"
echo
echo "report written to $DATA_DIR/bench-fashion-mnist.json"
