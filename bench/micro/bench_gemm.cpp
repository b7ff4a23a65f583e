// GEMM and the MLP's layer shapes through Signet's matmul/linear entry points (OpenBLAS),
// reported in GFLOP/s. Compare with the FMA roof of the machine: 2 cores x 2 FMA units x
// 16 floats x 2 flops x clock (about 225 GFLOP/s on the 2-core Zen 4 development machine).
#include <benchmark/benchmark.h>

#include "engine/ops.h"

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
  for (auto _ : state) benchmark::DoNotOptimize(matmul(a, b).f32());
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * n * n * n, benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
}
BENCHMARK(BM_Matmul)->Arg(128)->Arg(256)->Arg(512)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();

// The MLP's first layer at batch 128: [128,784] x [512,784]^T.
static void BM_LinearMlpFc1(benchmark::State& state) {
  Tensor x = rand_tensor({128, 784}, 3), w = rand_tensor({512, 784}, 4), b = rand_tensor({512}, 5);
  for (auto _ : state) benchmark::DoNotOptimize(linear(x, w, b).f32());
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * 128 * 784 * 512, benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
}
BENCHMARK(BM_LinearMlpFc1)->Unit(benchmark::kMicrosecond)->UseRealTime();
