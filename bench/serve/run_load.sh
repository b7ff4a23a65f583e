#!/usr/bin/env bash
# Loopback load test of `signet serve`: starts the server on a free port (model threads: 1),
# runs build/bench/signet_serve_load against it (SECONDS_PER_RUN each, default 5), stops it with
# SIGTERM. The model: MODEL (default out/marked-output.safetensors from ./quickstart.sh; else a
# mnist-mlp trained for 1 epoch on synthetic data into a temporary folder).
# Build first: cmake -S . -B build -DSIGNET_BUILD_BENCH=ON && cmake --build build --target signet signet_serve_load
set -euo pipefail
cd "$(dirname "$0")/../.."
SIGNET=./build/signet
LOAD=./build/bench/signet_serve_load
[ -x "$SIGNET" ] && [ -x "$LOAD" ] || { echo "build signet and signet_serve_load first (see the header)" >&2; exit 1; }
TMP=$(mktemp -d)
SERVER=""
cleanup() {
  if [ -n "$SERVER" ] && kill -0 "$SERVER" 2>/dev/null; then kill -TERM "$SERVER"; wait "$SERVER" || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT
MODEL="${MODEL:-out/marked-output.safetensors}"
if [ ! -f "$MODEL" ]; then
  MODEL="$TMP/model.safetensors"
  "$SIGNET" train --model mnist-mlp --dataset synthetic:1x28x28:10:300:100:3 --epochs 1 --seed 1 --quiet \
    --out "$MODEL" >/dev/null
fi
OMP_NUM_THREADS=1 "$SIGNET" serve --weights "$MODEL" --port 0 --port-file "$TMP/port" --threads 1 --quiet \
  --connections 96 2>"$TMP/serve.log" &
SERVER=$!
for _ in $(seq 200); do [ -s "$TMP/port" ] && break; sleep 0.05; done
[ -s "$TMP/port" ] || { cat "$TMP/serve.log" >&2; exit 1; }
PORT=$(cat "$TMP/port")
echo "load average before: $(cut -d" " -f1-3 /proc/loadavg)"
echo "model $MODEL, server pid $SERVER on port $PORT; $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ); commit $(git rev-parse --short HEAD)"
OMP_NUM_THREADS=1 "$LOAD" --endpoint "http://127.0.0.1:$PORT" --weights "$MODEL" --seconds "${SECONDS_PER_RUN:-5}" \
  --server-pid "$SERVER"
kill -TERM "$SERVER"
wait "$SERVER"
SERVER=""
tail -1 "$TMP/serve.log"
echo "load average after: $(cut -d" " -f1-3 /proc/loadavg)"
