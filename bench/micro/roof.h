// The machine's measured single-precision FMA roof, for benchmarks that report how close they
// come to it (bench_roof.cpp measures it; bench_gemm.cpp and bench_conv.cpp use it).
#pragma once
#include <benchmark/benchmark.h>

namespace signet::bench {

// Peak FP32 GFLOP/s of FMA instructions with `threads` threads (0: all of OpenMP's): the best
// of a few short runs of bench_roof.cpp's kernel, and at least `threads` x one thread's best
// (one thread per physical core). Measured once per thread count and cached.
// The environment variable SIGNET_FMA_ROOF_GFLOPS overrides the all-threads value (e.g. one
// measured on an idle machine, when the benchmarks themselves run on a loaded one).
double fma_roof_gflops(int threads = 0);

// A rate counter that reads as the percentage of the all-threads roof reached by an iteration
// of `flops` floating-point operations (Google Benchmark divides it by the time per iteration).
inline benchmark::Counter roof_pct(double flops) {
  return benchmark::Counter(100.0 * flops / (fma_roof_gflops() * 1e9), benchmark::Counter::kIsIterationInvariantRate);
}

// GFLOP/s of an iteration of `flops` operations (also a rate counter).
inline benchmark::Counter gflops(double flops) {
  return benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace signet::bench
