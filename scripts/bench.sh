#!/usr/bin/env bash
# `make bench`: the full benchmark set (slow: tens of minutes). Runs one
# benchmark at a time; never start two on a 2-core machine.
set -euo pipefail
BUILD_DIR=${1:-build}
DATA_DIR=${2:-data}
CAIRN="$BUILD_DIR/cairn"
mkdir -p "$DATA_DIR"

echo "== SIMD kernel throughput"
"$CAIRN" bench kernels --json "$DATA_DIR/bench-kernels.json"

"$CAIRN" dataset fetch fashion-mnist --out "$DATA_DIR/fashion-mnist"
"$CAIRN" dataset fetch fiori-docs --out "$DATA_DIR/fiori-docs"
"$CAIRN" dataset synth --n 1000000 --dim 128 --queries 2000 --clusters 1000 --out "$DATA_DIR/syn1m"

echo "== exact ground truth vs faiss"
"$CAIRN" bench gt --base "$DATA_DIR/fashion-mnist/base.fbin" \
  --queries "$DATA_DIR/fashion-mnist/query.fbin" --k 100 --json "$DATA_DIR/bench-gt.json"

for set in fashion-mnist fiori-docs syn1m; do
  echo "== cairn and the reference methods on $set"
  metric=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['metric'])" "$DATA_DIR/$set/dataset.json")
  "$CAIRN" bench --base "$DATA_DIR/$set/base.fbin" --queries "$DATA_DIR/$set/query.fbin" \
    --gt "$DATA_DIR/$set/gt.ibin" --metric "$metric" \
    --methods cairn,hnswlib,faiss-ivf-flat,faiss-ivf-pq-refine \
    --json "$DATA_DIR/bench-$set.json"
done
