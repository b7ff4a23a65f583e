#!/usr/bin/env bash
# The share of a training step that a watermark scheme's embedding term takes, per model:
# `signet bench` with and without --scheme, in alternating rounds, one thread, Fashion-MNIST
# shapes (wrn-16-4 padded to 32x32). Prints a markdown table with the machine, date and commit.
#
#   bench/scheme_share.sh [SCHEME] [ROUNDS]        (default: gradsigns 3)
#   SIGNET_BIN=build/signet  MODELS="mnist-mlp cifar10-cnn wrn-16-4"
#
# share = (step with the term - plain step) / step with the term, from each side's median over
# the rounds. Run it on an idle machine: another busy process shows up as noise in both columns.
set -euo pipefail
scheme=${1:-gradsigns}
rounds=${2:-3}
bin=${SIGNET_BIN:-build/signet}
models=${MODELS:-"mnist-mlp cifar10-cnn wrn-16-4"}

# model -> "batch input-shape steps warmup" (about 5-20 s of steps per side and round)
spec() {
  case "$1" in
    mnist-mlp) echo "128 1,28,28 300 20" ;;
    cifar10-cnn) echo "128 1,28,28 30 3" ;;
    wrn-16-4) echo "128 1,32,32 4 1" ;;
    resnet50) echo "16 3,64,64 10 2" ;;
    *) echo "no step settings for model '$1'" >&2; exit 2 ;;
  esac
}

median_ms() { "$bin" bench "$@" --threads 1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["median_ms"])'; }

echo "signet bench --scheme $scheme, --threads 1, $rounds alternating rounds"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ); commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo
echo "| model | batch | plain step, ms (rounds) | with $scheme, ms (rounds) | share of the marked step |"
echo "| --- | --- | --- | --- | --- |"
for m in $models; do
  read -r batch shape steps warmup <<<"$(spec "$m")"
  args=(--model "$m" --batch-size "$batch" --input-shape "$shape" --steps "$steps" --warmup "$warmup")
  plain=() marked=()
  for ((r = 0; r < rounds; r++)); do
    plain+=("$(median_ms "${args[@]}")")
    marked+=("$(median_ms "${args[@]}" --scheme "$scheme")")
  done
  python3 - "$m" "$batch" "${#plain[@]}" "${plain[@]}" "${marked[@]}" <<'PY'
import statistics, sys
m, batch, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
plain = [float(x) for x in sys.argv[4:4 + n]]
marked = [float(x) for x in sys.argv[4 + n:4 + 2 * n]]
p, k = statistics.median(plain), statistics.median(marked)
fmt = lambda xs: " / ".join(f"{x:.1f}" for x in xs)
print(f"| {m} | {batch} | {p:.1f} ({fmt(plain)}) | {k:.1f} ({fmt(marked)}) | {100 * (k - p) / k:.0f}% |")
PY
done
