#!/usr/bin/env bash
# Remote verification: the owner's black-box claim checked against a model behind an HTTP API.
#   1. serve the marked model (DeepSigns output-layer mark from ./quickstart.sh) on a free
#      loopback port, behind a bearer token, as its deployer would;
#   2. verify it with the owner's keys through the API alone (`signet verify --remote`);
#   3. serve the unmarked model the same way: it is not claimed.
# Assumes ./quickstart.sh ran (out/unmarked.safetensors, out/marked-output.safetensors,
# out/owner-output.wmk). Builds nothing beyond scripts/build.sh.
set -euo pipefail
cd "$(dirname "$0")"
for f in out/unmarked.safetensors out/marked-output.safetensors out/owner-output.wmk; do
  [ -f "$f" ] || { echo "serve_demo: $f is missing: run ./quickstart.sh first" >&2; exit 1; }
done
scripts/build.sh
TMP=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TMP/api.key"

# Starts `signet serve` NAME WEIGHTS on a port the OS picks; sets PORT.
serve() {
  local name=$1 weights=$2
  ./build/signet serve --weights "$weights" --port 0 --port-file "$TMP/$name.port" --api-key-file "$TMP/api.key" \
    >/dev/null 2>"$TMP/$name.log" &
  PIDS+=($!)
  for _ in $(seq 200); do [ -s "$TMP/$name.port" ] && break; sleep 0.05; done
  [ -s "$TMP/$name.port" ] || { cat "$TMP/$name.log" >&2; exit 1; }
  PORT=$(cat "$TMP/$name.port")
}

echo
echo "== 1/3 Serving the marked model (labels only, bearer token) and the unmarked one =="
serve marked out/marked-output.safetensors
MARKED=$PORT
serve unmarked out/unmarked.safetensors
UNMARKED=$PORT
echo "   marked:   http://127.0.0.1:$MARKED    unmarked: http://127.0.0.1:$UNMARKED"
if command -v curl >/dev/null; then
  curl -fsS -H "Authorization: Bearer $(cat "$TMP/api.key")" "http://127.0.0.1:$MARKED/v1/model" && echo
fi

echo
echo "== 2/3 Verifying the marked model through its API alone =="
./build/signet verify --keys out/owner-output.wmk --remote "http://127.0.0.1:$MARKED" --api-key-file "$TMP/api.key"

echo
echo "== 3/3 The unmarked model, served the same way, is not claimed =="
./build/signet verify --keys out/owner-output.wmk --remote "http://127.0.0.1:$UNMARKED" --api-key-file "$TMP/api.key"

echo
echo "== The marked server's access log (one JSON line per request) =="
kill -TERM "${PIDS[0]}" && wait "${PIDS[0]}" || true
cat "$TMP/marked.log"
