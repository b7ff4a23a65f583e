#!/usr/bin/env bash
# Signet quickstart, on Fashion-MNIST (Debian's dataset-fashion-mnist):
#   1. install what is missing and build (Release);
#   2. train the DeepSigns MLP (784-512-512-10) without a watermark;
#   3. train it again, same seed and recipe, embedding an owner's 32-bit DeepSigns signature
#      (derived from the owner string) in the second-to-last layer, with secret keys;
#   4. make the owner's Ed25519 identity and certify the claim (keys + marked model hashes);
#   5. check the certificate and extract with the owner's keys from both models: the marked one
#      proves ownership, the unmarked one is not claimed;
#   6. embed the black-box DeepSigns output-layer mark (20 keys from the PCA + epsilon-ball
#      density search) by fine-tuning the unmarked model, certify it, and verify it from labels.
# A few minutes on a 2-core machine. Outputs go to out/.
set -euo pipefail
cd "$(dirname "$0")"
scripts/install_deps.sh
scripts/build.sh
mkdir -p out
OWNER="${SIGNET_OWNER:-ACME Corp 2026}"

echo
echo "== 1/5 Training mnist-mlp on Fashion-MNIST without a watermark (5 epochs, seed 1) =="
./build/signet train --model mnist-mlp --dataset fashion-mnist --epochs 5 --seed 1 --out out/unmarked.safetensors

echo
echo "== 2/5 Training it with a 32-bit DeepSigns watermark of \"$OWNER\" (layer relu2, same seed) =="
echo "   (the keys come from the OS's secure random generator: secret, and different on every run)"
./build/signet embed --scheme deepsigns-hidden --model mnist-mlp --dataset fashion-mnist --layer relu2 --bits 32 \
  --signature "$OWNER" --epochs 5 --seed 1 --keys-out out/owner.wmk --out out/marked.safetensors

echo
echo "== 3/5 The owner certifies the claim before publishing the model (Ed25519 signature over hashes only) =="
[ -f out/owner.key ] || ./build/signet identity new --out out/owner
./build/signet certify --identity out/owner.key --keys out/owner.wmk --model out/marked.safetensors \
  --out out/owner.cert

echo
echo "== 4/5 In a dispute: the certificate is checked, then the mark is extracted from both models =="
./build/signet extract --keys out/owner.wmk --certificate out/owner.cert --owner-key out/owner.pub \
  --weights out/marked.safetensors --weights out/unmarked.safetensors

echo
echo "== 5/5 The black-box output-layer mark: 20 keys found in rarely explored regions, by fine-tuning; verified =="
echo "   from the labels a deployed model answers"
./build/signet embed --scheme deepsigns-output --model mnist-mlp --dataset fashion-mnist \
  --from out/unmarked.safetensors --keys 20 --seed 1 --keys-out out/owner-output.wmk --out out/marked-output.safetensors
./build/signet certify --identity out/owner.key --keys out/owner-output.wmk --model out/marked-output.safetensors \
  --out out/owner-output.cert
./build/signet verify --keys out/owner-output.wmk --certificate out/owner-output.cert --owner-key out/owner.pub \
  --weights out/marked-output.safetensors --weights out/unmarked.safetensors
