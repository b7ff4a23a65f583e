#!/usr/bin/env bash
# Configures and builds Signet (Release) in ./build. Extra arguments go to cmake.
set -euo pipefail
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build build -j"$(nproc)"
