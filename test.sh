#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test through ctest (labels: unit, slow;
# cuda tests skip themselves without a GPU).
set -euo pipefail
cd "$(dirname "$0")"
scripts/install_deps.sh
scripts/build.sh
cd build
ctest --output-on-failure -j"$(nproc)" "$@"
