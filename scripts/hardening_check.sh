#!/usr/bin/env bash
# The hardening job of CI (.ci/run, after ./test.sh): ONE clang build with AddressSanitizer +
# UndefinedBehaviorSanitizer and libFuzzer coverage serves both halves:
#   1. the unit tests (ctest -L unit, CLI tests included) and the CUDA kernels on the CPU emulator
#      (ctest -L cuda-sim: a kernel's out-of-bounds global access shows here) under ASan + UBSan +
#      LeakSanitizer;
#   2. every fuzz target (tests/fuzz/) for SIGNET_FUZZ_SECONDS (default 30) on its committed
#      corpus and regression inputs; any crash fails the job and leaves the input in
#      build-hardening/fuzz-artifacts/<target>/ (see docs/fuzzing.md to turn it into a regression).
# -O1 -g keeps it fast enough and the stacks readable. Prints the time of each part.
# Environment: SIGNET_FUZZ_SECONDS, SIGNET_HARDENING_BUILD (build folder), SIGNET_SKIP_FUZZ=1,
# SIGNET_SKIP_SANITIZED_TESTS=1; extra arguments go to ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
scripts/install_deps.sh --hardening
build="${SIGNET_HARDENING_BUILD:-build-hardening}"
seconds="${SIGNET_FUZZ_SECONDS:-30}"
jobs="$(nproc)"
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$root}"

t0=$(date +%s)
# Without MPI: Open MPI's own allocations at MPI_Init are leaks to LeakSanitizer, and its memory
# hooks fight ASan's. The exchange logic (models/data_parallel.cpp) is still tested here against
# a stand-in rank; the mpirun test (distributed_mpirun) skips and runs in ./test.sh's build.
cmake -S . -B "$build" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug \
  "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -g -march=native" -DSIGNET_SANITIZE=address,undefined \
  -DSIGNET_FUZZ=ON -DSIGNET_BUILD_BENCH=OFF -DSIGNET_CUDA=OFF -DSIGNET_MPI=OFF >/dev/null
cmake --build "$build" -j"$jobs" --target signet signet_unit_tests signet_cuda_sim_tests signet_fuzzers
t1=$(date +%s)

# Sanitizer reports end the process with a failure (a failed test, a fuzzer crash).
# Suppressions (scripts/sanitizer_suppressions/) are only for findings in third-party code;
# each entry says why.
supp="$root/scripts/sanitizer_suppressions"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=0:strict_string_checks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:suppressions=$supp/ubsan.supp}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$supp/lsan.supp:print_suppressions=0}"
export OMP_WAIT_POLICY=passive SIGNET_ADAPTIVE_THREADS=0
# One OpenMP thread by default: clang links LLVM's OpenMP runtime, and Debian's OpenBLAS is built
# for GCC's; OpenBLAS's parallel regions run through libomp's GOMP layer then crawl (measured:
# OpsMatmul.GemmFastMatchesReference over 10 minutes instead of 12 s). Tests that set a thread
# count still run threaded, and ./test.sh (GCC, libgomp) runs every threaded path.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"

if [ "${SIGNET_SKIP_SANITIZED_TESTS:-0}" != "1" ]; then
  (cd "$build" && ctest -L 'unit|cuda-sim' -j"$jobs" --output-on-failure "$@")
fi
t2=$(date +%s)

failed=()
if [ "${SIGNET_SKIP_FUZZ:-0}" != "1" ]; then
  # Two fuzzers at a time (one per core); new inputs go to a scratch corpus in the build folder,
  # the committed corpus and regressions are read only.
  run_fuzzer() {
    local t="$1" exe="$build/tests/fuzz/signet_fuzz_$1"
    local work="$build/fuzz-corpus/$t" art="$build/fuzz-artifacts/$t/"
    mkdir -p "$work" "$art"
    local dirs=("$root/tests/fuzz/corpus/$t")
    [ -d "$root/tests/fuzz/regressions/$t" ] && dirs+=("$root/tests/fuzz/regressions/$t")
    local rc=0
    "$exe" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2560 -print_final_stats=1 \
      -artifact_prefix="$art" "$work" "${dirs[@]}" >"$build/fuzz-$t.log" 2>&1 || rc=$?
    echo "$rc" >"$build/fuzz-$t.rc"
  }
  targets=()
  for f in tests/fuzz/fuzz_*.cpp; do t="${f#tests/fuzz/fuzz_}"; targets+=("${t%.cpp}"); done
  for t in "${targets[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do sleep 1; done
    run_fuzzer "$t" &
  done
  wait
  for t in "${targets[@]}"; do
    if [ "$(cat "$build/fuzz-$t.rc")" = "0" ]; then
      echo "fuzz $t: $(grep -E '^stat::number_of_executed_units' "$build/fuzz-$t.log" | awk '{print $2}') runs, no crash"
    else
      failed+=("$t")
      echo "fuzz $t: FAILED; log $build/fuzz-$t.log, input in $build/fuzz-artifacts/$t/" >&2
      tail -n 60 "$build/fuzz-$t.log" >&2
    fi
  done
fi
t3=$(date +%s)
echo "hardening: build $((t1 - t0)) s, sanitized unit tests $((t2 - t1)) s, fuzzers $((t3 - t2)) s (${seconds} s each, $jobs at a time)"
if ((${#failed[@]})); then
  echo "hardening: fuzz targets with findings: ${failed[*]}" >&2
  exit 1
fi
