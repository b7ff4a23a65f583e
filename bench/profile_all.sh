#!/usr/bin/env bash
# Where each paper model's step goes: `signet bench --profile` (time per op type and per layer)
# for every model at the fair harness's cells (batch 1, 16 and the results table's batch,
# training steps; and inference at batch 1), one file per cell, so that a change's profiles can
# be committed beside the timings it explains.
# Usage: bench/profile_all.sh OUT_DIR [SIGNET [COMMIT]]   (default build/signet, built from HEAD;
#   COMMIT names the commit another binary was built from)
#   writes OUT_DIR/<model>-b<batch>.txt and OUT_DIR/<model>-b1-forward.txt, each starting with the
#   command, the commit, the CPU and the environment that sets the timing (OMP_WAIT_POLICY,
#   GLIBC_TUNABLES: give it the fair harness's, as bench/RESULTS.md says). Run on an idle machine.
set -euo pipefail
if [ $# -lt 1 ]; then
  echo "usage: $0 OUT_DIR [SIGNET]" >&2
  exit 2
fi
out=$1 signet=${2:-build/signet}
mkdir -p "$out"
commit=${3:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
# model, table batch, steps at the table batch, input shape ("" = the model's default)
for spec in "mnist-mlp 128 100 -" "cifar10-cnn 128 10 -" "imdb-lstm 64 5 -" "resnet50 16 5 3,64,64" "wrn-16-4 64 3 -"; do
  read -r model table steps shape <<<"$spec"
  batches="1 16 $table 1f"
  [ "$table" = 16 ] && batches="1 16 1f"
  for batch in $batches; do
    forward=() name="$model-b$batch" b=$batch s=$steps
    if [ "$batch" = 1f ]; then forward=(--forward-only) name="$model-b1-forward" b=1; fi
    [ "$b" -lt "$table" ] && s=$((steps * (table / b > 10 ? 10 : table / b)))
    shape_args=()
    [ "$shape" != - ] && shape_args=(--input-shape "$shape")
    cmd=("$signet" bench --model "$model" --batch-size "$b" --steps "$s" --warmup 2 --threads 2 --profile
         "${forward[@]}" "${shape_args[@]}")
    {
      echo "# ${cmd[*]}"
      echo "# signet from commit $commit (binary: $signet), CPU: $cpu, $(date -u '+%Y-%m-%d %H:%M UTC')"
      echo "# OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-unset} GLIBC_TUNABLES=${GLIBC_TUNABLES:-unset}"
      "${cmd[@]}" 2>&1
    } > "$out/$name.txt"
    echo "$out/$name.txt: $(head -4 "$out/$name.txt" | tail -1 | cut -c1-100)" >&2
  done
done
