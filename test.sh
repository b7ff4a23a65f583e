#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test through ctest (labels: unit, slow;
# cuda tests skip themselves without a GPU); then builds the .deb, installs, runs and removes it
# (scripts/package_check.sh: needs root or password-less sudo, skipped without them;
# SIGNET_SKIP_PACKAGE_CHECK=1 skips it).
set -euo pipefail
cd "$(dirname "$0")"
scripts/install_deps.sh
scripts/build.sh
cd build
# ctest runs tests in parallel, each with an OpenMP pool; with the default active waiting the
# pools spin against each other (measured: a 128x128 matmul 11.6 ms instead of 0.09 ms).
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
# Tests compare runs bit for bit (resumed checkpoints, repeated embeddings); a thread count that
# follows the machine's load could change the last bits of some reductions between runs.
export SIGNET_ADAPTIVE_THREADS="${SIGNET_ADAPTIVE_THREADS:-0}"
ctest --output-on-failure -j"$(nproc)" "$@"
cd ..
if [ "${SIGNET_SKIP_PACKAGE_CHECK:-0}" != "1" ]; then
  scripts/package_check.sh build
fi
