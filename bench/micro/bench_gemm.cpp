// GEMM and the MLP's layer shapes through Signet's matmul/linear entry points (its own blocked GEMM) and OpenBLAS,
// reported in GFLOP/s and as `roof_pct`, the percentage of the machine's measured FMA roof
// (bench_roof.cpp; all threads). Issue 8's target: roof_pct >= 85 for N >= 512.
#include <benchmark/benchmark.h>

#include "bench/micro/roof.h"
#include "engine/ops.h"
#include "engine/ops/matmul.h"

using namespace signet;

static Tensor rand_tensor(const Shape& s, uint64_t seed) {
  Rng rng(seed);
  Tensor t = Tensor::empty(s);
  for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = rng.uniform(-1, 1);
  return t;
}

static void BM_Matmul(benchmark::State& state) {
  const int64_t n = state.range(0);
  Tensor a = rand_tensor({n, n}, 1), b = rand_tensor({n, n}, 2);
  const double flops = 2.0 * n * n * n;
  for (auto _ : state) benchmark::DoNotOptimize(matmul(a, b).f32());
  state.counters["GFLOP/s"] = bench::gflops(flops);
  state.counters["roof_pct"] = bench::roof_pct(flops);
}
BENCHMARK(BM_Matmul)->Arg(128)->Arg(256)->Arg(512)->Arg(1024)->Arg(2048)->Unit(benchmark::kMillisecond)->UseRealTime();

// The same products through OpenBLAS (cblas_sgemm), for comparison.
static void BM_MatmulBlas(benchmark::State& state) {
  const int64_t n = state.range(0);
  Tensor a = rand_tensor({n, n}, 1), b = rand_tensor({n, n}, 2), c = Tensor::empty({n, n});
  const double flops = 2.0 * n * n * n;
  for (auto _ : state) {
    cpu::gemm_blas(false, false, n, n, n, 1.0f, a.f32(), n, b.f32(), n, 0.0f, c.f32(), n);
    benchmark::DoNotOptimize(c.f32());
  }
  state.counters["GFLOP/s"] = bench::gflops(flops);
  state.counters["roof_pct"] = bench::roof_pct(flops);
}
BENCHMARK(BM_MatmulBlas)->Arg(128)->Arg(256)->Arg(512)->Arg(1024)->Arg(2048)->Unit(benchmark::kMillisecond)->UseRealTime();

// The MLP's first layer at batch 128: [128,784] x [512,784]^T.
static void BM_LinearMlpFc1(benchmark::State& state) {
  Tensor x = rand_tensor({128, 784}, 3), w = rand_tensor({512, 784}, 4), b = rand_tensor({512}, 5);
  const double flops = 2.0 * 128 * 784 * 512;
  for (auto _ : state) benchmark::DoNotOptimize(linear(x, w, b).f32());
  state.counters["GFLOP/s"] = bench::gflops(flops);
  state.counters["roof_pct"] = bench::roof_pct(flops);
}
BENCHMARK(BM_LinearMlpFc1)->Unit(benchmark::kMicrosecond)->UseRealTime();

// The CNN's first classifier layer, [B,4096] x [512,4096]^T, and its two backward products
// (arg 0: forward, 1: dx = g w, 2: dw = g^T x; arg 1: the batch B, 128 or 16).
static void BM_LinearCnnFc1(benchmark::State& state) {
  const int64_t B = state.range(1);
  Tensor x = rand_tensor({B, 4096}, 3), w = rand_tensor({512, 4096}, 4), b = rand_tensor({512}, 5);
  Tensor g = rand_tensor({B, 512}, 6);
  const double flops = 2.0 * B * 4096 * 512;
  for (auto _ : state) {
    if (state.range(0) == 0) benchmark::DoNotOptimize(linear(x, w, b).f32());
    if (state.range(0) == 1) benchmark::DoNotOptimize(matmul(g, w).f32());
    if (state.range(0) == 2) benchmark::DoNotOptimize(matmul(transpose(g, 0, 1), x).f32());
  }
  state.counters["GFLOP/s"] = bench::gflops(flops);
  state.counters["roof_pct"] = bench::roof_pct(flops);
}
BENCHMARK(BM_LinearCnnFc1)->ArgsProduct({{0, 1, 2}, {128, 16}})->Unit(benchmark::kMicrosecond)->UseRealTime();
