#!/usr/bin/env bash
# Signet quickstart, on Fashion-MNIST (Debian's dataset-fashion-mnist):
#   1. install what is missing and build (Release);
#   2. train the DeepSigns MLP (784-512-512-10) without a watermark;
#   3. train it again, same seed and recipe, embedding an owner's 32-bit DeepSigns signature
#      (derived from the owner string) in the second-to-last layer;
#   4. extract with the owner's keys from both models: the marked one proves ownership, the
#      unmarked one is not claimed;
#   5. embed the black-box DeepSigns output-layer mark (20 keys from the PCA + epsilon-ball
#      density search) by fine-tuning the unmarked model, and verify it from labels alone.
# A few minutes on a 2-core machine. Outputs go to out/.
set -euo pipefail
cd "$(dirname "$0")"
scripts/install_deps.sh
scripts/build.sh
mkdir -p out
OWNER="${SIGNET_OWNER:-ACME Corp 2026}"

echo
echo "== 1/4 Training mnist-mlp on Fashion-MNIST without a watermark (5 epochs, seed 1) =="
./build/signet train --model mnist-mlp --dataset fashion-mnist --epochs 5 --seed 1 --out out/unmarked.safetensors

echo
echo "== 2/4 Training it with a 32-bit DeepSigns watermark of \"$OWNER\" (layer relu2, same seed) =="
./build/signet embed --scheme deepsigns-hidden --model mnist-mlp --dataset fashion-mnist --layer relu2 --bits 32 \
  --signature "$OWNER" --epochs 5 --seed 1 --keys-out out/owner.wmk --out out/marked.safetensors

echo
echo "== 3/4 Extracting with the owner's keys from both models =="
./build/signet extract --keys out/owner.wmk --weights out/marked.safetensors --weights out/unmarked.safetensors

echo
echo "== 4/4 The black-box output-layer mark: 20 keys found in rarely explored regions, by fine-tuning =="
./build/signet embed --scheme deepsigns-output --model mnist-mlp --dataset fashion-mnist \
  --from out/unmarked.safetensors --keys 20 --seed 1 --keys-out out/owner-output.wmk --out out/marked-output.safetensors
./build/signet verify --keys out/owner-output.wmk --weights out/marked-output.safetensors --weights out/unmarked.safetensors
