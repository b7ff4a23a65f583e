#!/usr/bin/env bash
# Two Signet binaries (e.g. before and after a change) timed on the five paper models' training
# steps, alternating A and B in every round so that both see the same moment of the machine.
# Prints one line per model: the median over rounds of each binary's median step and B / A.
# Usage: bench/ab_binaries.sh A_SIGNET B_SIGNET [ROUNDS]   (run on an idle machine)
# Models, batch sizes and step counts as bench/e2e/run_all.sh.
set -euo pipefail
A=$1 B=$2 ROUNDS=${3:-3}
median() { python3 -c 'import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }
step_ms() {  # binary model batch steps warmup [shape]
  local extra=()
  [ -n "${6:-}" ] && extra=(--input-shape "$6")
  "$1" bench --model "$2" --batch-size "$3" --steps "$4" --warmup "$5" --threads 2 --json "${extra[@]}" |
    python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["median_ms"])'
}
printf '| model | batch | A median ms | B median ms | B / A |\n| --- | --- | --- | --- | --- |\n'
while read -r model batch steps warmup shape; do
  a=() b=()
  for ((r = 0; r < ROUNDS; r++)); do
    a+=("$(step_ms "$A" "$model" "$batch" "$steps" "$warmup" "$shape")")
    b+=("$(step_ms "$B" "$model" "$batch" "$steps" "$warmup" "$shape")")
  done
  ma=$(median "${a[@]}") mb=$(median "${b[@]}")
  printf '| %s | %s | %.2f | %.2f | %.3f |\n' "$model${shape:+ @$shape}" "$batch" "$ma" "$mb" \
    "$(python3 -c "print($mb / $ma)")"
done <<'MODELS'
mnist-mlp 128 100 10
cifar10-cnn 128 10 2
imdb-lstm 64 5 1
resnet50 16 5 1 3,64,64
wrn-16-4 64 3 1
MODELS
