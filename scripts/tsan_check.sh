#!/usr/bin/env bash
# ThreadSanitizer run of the tests whose code starts threads of its own: the data loader's
# prefetch worker, the model server (HTTP threads, inference batcher, client gate), the HTTP
# oracle, the thread governor, the profiler, and `signet serve` driven through the CLI.
# Not part of CI: a TSan build of everything takes 15-30 minutes on 2 cores.
#
# OpenMP runs with one thread here. GCC's libgomp is not built with TSan, so TSan cannot see its
# barriers and reports every parallel kernel's hand-over between threads as a race (seen: 70
# reports in the GEMM with OMP_NUM_THREADS=2, each with libgomp's worker on the other side).
# Checking the OpenMP kernels themselves needs clang, LLVM's libomp and its TSan tool (archer).
#
# usage: scripts/tsan_check.sh [build dir, default build-tsan]
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-build-tsan}"
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSIGNET_SANITIZE=thread \
  -DSIGNET_BUILD_BENCH=OFF -DSIGNET_CUDA=OFF >/dev/null
cmake --build "$dir" -j"$(nproc)" --target signet signet_unit_tests
export SIGNET_BIN="$PWD/$dir/signet" OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive SIGNET_ADAPTIVE_THREADS=0
# halt_on_error: the first race fails the run with its report.
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 ${TSAN_OPTIONS:-}"
"$dir/tests/signet_unit_tests" \
  --gtest_filter='DataLoader.*:Profiler.*:ThreadGovernor*:Serve*:ScoreOracles.*:CliServe.*'
echo "tsan_check: no data race reported"
