// The FMA roof: the machine's peak single-precision FMA throughput, the yardstick for GEMM and
// convolution (roof.h). Each thread runs kAcc independent vector accumulators through
// acc = acc * m + a; independent chains hide the FMA latency (4 cycles on Zen 4, two 256-bit
// FMA pipes = one 512-bit FMA per cycle: at least 8 chains are needed, 12 leave a margin).
//   BM_FmaRoof/threads:1     one core
//   BM_FmaRoof/threads:all   every OpenMP thread at once (the number GEMM is compared with)
// A 2-core Zen 4 at ~3.7 GHz should reach 2 x 32 x 3.7 ~ 237 GFLOP/s.
#include <cblas.h>
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>

#include "bench/micro/roof.h"

namespace {

constexpr int kAcc = 12;

#if defined(__AVX512F__)
using Vec = __m512;
constexpr int kLanes = 16;
inline Vec vset(float v) { return _mm512_set1_ps(v); }
inline Vec vfma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
inline Vec vadd(Vec a, Vec b) { return _mm512_add_ps(a, b); }
inline float vsum(Vec v) { return _mm512_reduce_add_ps(v); }
#elif defined(__AVX2__) && defined(__FMA__)
using Vec = __m256;
constexpr int kLanes = 8;
inline Vec vset(float v) { return _mm256_set1_ps(v); }
inline Vec vfma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
inline Vec vadd(Vec a, Vec b) { return _mm256_add_ps(a, b); }
inline float vsum(Vec v) {
  alignas(32) float t[8];
  _mm256_store_ps(t, v);
  float s = 0;
  for (float x : t) s += x;
  return s;
}
#else
#error "bench_roof.cpp needs AVX-512F or AVX2+FMA (build with -march=native on such a machine)"
#endif

// kAcc * kLanes * 2 flops per inner iteration. The multiplier is just below 1 and the addend
// small, so the values stay finite for any iteration count; `seed` keeps them unknown to the
// compiler, and the result is consumed, so nothing is folded or removed.
float fma_kernel(int64_t iters, float seed) {
  Vec acc[kAcc];
  for (int i = 0; i < kAcc; ++i) acc[i] = vset(seed + 0.001f * i);
  const Vec m = vset(0.9999f), a = vset(seed * 1e-4f);
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < kAcc; ++i) acc[i] = vfma(acc[i], m, a);
  }
  Vec s = acc[0];
  for (int i = 1; i < kAcc; ++i) s = vadd(s, acc[i]);
  return vsum(s);
}
constexpr double kFlopsPerIter = 2.0 * kAcc * kLanes;

// Runs the kernel on `threads` threads at once for `iters` iterations each; returns seconds.
double run_parallel(int threads, int64_t iters) {
  float sink = 0;
  const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads) reduction(+ : sink)
  sink += fma_kernel(iters, 1.0f + 1e-3f * omp_get_thread_num());
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  benchmark::DoNotOptimize(sink);
  return s;
}

int resolve(int threads) { return threads > 0 ? threads : omp_get_max_threads(); }

}  // namespace

namespace signet::bench {

double fma_roof_gflops(int threads) {
  threads = resolve(threads);
  static std::mutex mu;
  static std::map<int, double> cache;
  std::lock_guard<std::mutex> lock(mu);
  if (auto it = cache.find(threads); it != cache.end()) return it->second;
  double roof = 0;
  if (threads == omp_get_max_threads()) {
    if (const char* env = std::getenv("SIGNET_FMA_ROOF_GFLOPS")) roof = std::atof(env);
  }
  if (roof <= 0) {
    // ~0.1 s per run at 100 GFLOP/s per thread; the best of several runs drops interruptions
    // by other processes (the roof is a property of the machine, not of its load).
    const int64_t iters = 20'000'000;
    auto best_of = [&](int t, int runs) {
      run_parallel(t, iters / 10);  // wake the pool and the clocks
      double b = 0;
      for (int r = 0; r < runs; ++r) b = std::max(b, kFlopsPerIter * iters * t / run_parallel(t, iters) * 1e-9);
      return b;
    };
    const double one = best_of(1, 5);
    // On a shared machine all threads rarely get their cores at the same moment, so the
    // measured all-threads figure can fall to one core's. The roof is then `threads` times one
    // core's, which assumes one thread per physical core (true for the development machine:
    // BM_FmaRoof/threads:all reaches twice BM_FmaRoof/threads:1 when the machine is idle).
    roof = threads == 1 ? one : std::max(best_of(threads, 3), threads * one);
  }
  cache[threads] = roof;
  return roof;
}

}  // namespace signet::bench

// Recorded in every report's context: which OpenBLAS kernels ran (OPENBLAS_CORETYPE forces
// them; an AVX2 set such as Haswell caps GEMM at half of an AVX-512 roof).
static const int kBlasContext = (benchmark::AddCustomContext("openblas_core", openblas_get_corename()), 0);

static void BM_FmaRoof(benchmark::State& state) {
  const int threads = resolve(static_cast<int>(state.range(0)));
  const int64_t iters = 2'000'000;
  run_parallel(threads, iters / 10);
  for (auto _ : state) {
    const double s = run_parallel(threads, iters);
    state.SetIterationTime(s);
  }
  state.counters["GFLOP/s"] = signet::bench::gflops(kFlopsPerIter * iters * threads);
  state.counters["threads"] = threads;
  state.SetLabel(state.range(0) == 0 ? "all threads" : "1 thread");
}
// Arg 1: one thread; Arg 0: all of OpenMP's threads.
BENCHMARK(BM_FmaRoof)->Arg(1)->Arg(0)->UseManualTime()->Unit(benchmark::kMillisecond);
