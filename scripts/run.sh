#!/usr/bin/env bash
# `make run`: fetch Fashion-MNIST from its Debian package, build a Cairn SPANN
# index on it (heads in RAM, postings on SSD), print the search report for its
# 10,000 test queries, then serve it as the collection "fashion-mnist" over
# the Qdrant-compatible REST API until Ctrl-C. A rerun reuses the data set,
# the finished build stages and the collection.
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

PORT=${CAIRN_PORT:-6333}
echo
echo "== cairn serve --data $DATA_DIR/server --port $PORT (collection fashion-mnist; Ctrl-C stops)"
echo "search it, e.g. the 5 nearest neighbours of point 0:"
echo "  curl -s -X POST http://127.0.0.1:$PORT/collections/fashion-mnist/points/query \\"
echo "       -H 'Content-Type: application/json' -d '{\"query\": 0, \"limit\": 5}'"
exec "$CAIRN" serve --data "$DATA_DIR/server" --port "$PORT" \
  --demo-index "$INDEX" --demo-name fashion-mnist
