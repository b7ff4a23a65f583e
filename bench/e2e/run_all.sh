#!/usr/bin/env bash
# The five paper models' training steps, Signet beside PyTorch in the same run (issue 8):
# bench/e2e/compare.py per model at the batch sizes of bench/RESULTS.md, one JSON line each
# into OUT (default bench/e2e/results.jsonl), and the table printed at the end.
# Usage: bench/e2e/run_all.sh [OUT] [ROUNDS]     (needs python3-torch; build/signet built)
# Run on an idle machine: every other process on the 2 cores shows up in both columns.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${1:-bench/e2e/results.jsonl}"
ROUNDS="${2:-3}"
tmp="$OUT.part"
: > "$tmp"
run() {  # model batch steps warmup [input-shape]
  local extra=()
  [ -n "${5:-}" ] && extra=(--input-shape "$5")
  python3 bench/e2e/compare.py --model "$1" --batch-size "$2" --steps "$3" --warmup "$4" \
    --rounds "$ROUNDS" --threads 2 --json "${extra[@]}" | tee -a "$tmp"
}
run mnist-mlp 128 100 10
run cifar10-cnn 128 10 2
run imdb-lstm 64 5 1
run resnet50 16 5 1 3,64,64
run wrn-16-4 64 3 1
mv "$tmp" "$OUT"
python3 - "$OUT" <<'PY'
import json, sys
print("| model | batch | Signet median / min / max ms | PyTorch median / min / max ms | ratio (median) | ratio (min) |")
print("| --- | --- | --- | --- | --- | --- |")
for line in open(sys.argv[1]):
    r = json.loads(line)
    s, t = r["signet"], r["pytorch"]
    shape = f" @{r['input_shape']}" if r.get("input_shape") else ""
    print(f"| {r['model']}{shape} | {r['batch_size']} | {s['median_ms']:.1f} / {s['min_ms']:.1f} / {s['max_ms']:.1f} | "
          f"{t['median_ms']:.1f} / {t['min_ms']:.1f} / {t['max_ms']:.1f} | {r['ratio_median']:.2f}x | {r['ratio_min']:.2f}x |")
PY
