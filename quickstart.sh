#!/usr/bin/env bash
# Signet quickstart: installs what is missing, builds, and runs the main job on Fashion-MNIST:
# trains the DeepSigns MLP (784-512-512-10), prints its test accuracy, and shows that PyTorch-
# style weights were written. Takes a few minutes on a 2-core machine.
set -euo pipefail
cd "$(dirname "$0")"
scripts/install_deps.sh
scripts/build.sh
mkdir -p out
echo
echo "== Training mnist-mlp on Fashion-MNIST (5 epochs, seed 1) =="
./build/signet train --model mnist-mlp --dataset fashion-mnist --epochs 5 --batch-size 128 --lr 0.05 \
  --seed 1 --out out/mlp.safetensors
echo
echo "== The model file (safetensors, PyTorch parameter names) =="
./build/signet info out/mlp.safetensors
echo
echo "== Evaluating the saved model =="
./build/signet evaluate --model mnist-mlp --weights out/mlp.safetensors --dataset fashion-mnist
