#!/usr/bin/env bash
# Two builds of signet, A and B, alternating in every round on the same models: a change's effect
# on the step time, with the run-to-run spread in view. Run on an idle machine.
# Usage: bench/e2e/ab_builds.sh A_SIGNET B_SIGNET [ROUNDS]
#   e.g. bench/e2e/ab_builds.sh /tmp/signet_before build/signet 3
# Prints: round, build (A or B), model, batch, median ms per step (signet bench, 2 threads).
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 A_SIGNET B_SIGNET [ROUNDS]" >&2
  exit 2
fi
a=$1 b=$2 rounds=${3:-3}
for round in $(seq "$rounds"); do
  for m in "imdb-lstm 64 8" "mnist-mlp 128 20" "cifar10-cnn 128 20"; do
    read -r model batch steps <<<"$m"
    for which in A B; do
      bin=$a; [ "$which" = B ] && bin=$b
      OMP_WAIT_POLICY=passive "$bin" bench --model "$model" --batch-size "$batch" --steps "$steps" --warmup 3 \
        --threads 2 --json 2>/dev/null | tail -1 |
        python3 -c "import json,sys; j=json.loads(sys.stdin.read()); print('$round $which $model $batch', round(j['median_ms'], 2))"
    done
  done
done
