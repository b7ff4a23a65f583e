// The DeepSigns regularizer (WM_activity_regularizer, watermark/deepsigns/wm_regularizer.h),
// forward + backward, at each paper model's watermarked layer and a training batch:
//   0 mnist-mlp    relu2       [128, 512],  10 classes
//   1 cifar10-cnn  classifier  [128, 512],  10 classes
//   2 wrn-16-4     pool        [ 64, 256],  10 classes
//   3 resnet50     avgpool     [ 16, 2048], 1000 classes
//   4 imdb-lstm    lstm        [ 64, 100],  2 classes
// with the defaults of DeepSigns embedding (s = 1 chosen class, N = 32 bits, lambda 0.01).
// Issue 8's target: the regularizer costs at most 1% of a training step of its model. The
// time per iteration here divided by `signet bench --model M --batch-size B`'s median step is
// that share (bench/RESULTS.md). GB/s counts the minimal traffic: read f, mu, A; write the
// gradients of f and mu.
#include <benchmark/benchmark.h>

#include <algorithm>

#include "engine/ops.h"
#include "watermark/deepsigns/wm_regularizer.h"

using namespace signet;

namespace {
struct Site { const char* model; int64_t B, M, S; };
constexpr Site kSites[] = {{"mnist-mlp", 128, 512, 10}, {"cifar10-cnn", 128, 512, 10}, {"wrn-16-4", 64, 256, 10},
                           {"resnet50", 16, 2048, 1000}, {"imdb-lstm", 64, 100, 2}};
constexpr int64_t kBits = 32;

struct Inputs {
  Tensor f, y, mu, A, b;
  std::vector<int64_t> T{1};
};

Inputs make_inputs(const Site& st) {
  Rng rng(17);
  Inputs in;
  in.f = Tensor::empty({st.B, st.M});
  for (int64_t i = 0; i < in.f.numel(); ++i) in.f.f32()[i] = std::max(0.0f, static_cast<float>(rng.normal()));
  in.y = Tensor::empty({st.B}, DType::I64);
  for (int64_t i = 0; i < st.B; ++i) in.y.i64()[i] = static_cast<int64_t>(rng.below(st.S));
  in.mu = Tensor::empty({st.S, st.M});
  for (int64_t i = 0; i < in.mu.numel(); ++i) in.mu.f32()[i] = static_cast<float>(rng.normal()) * 0.1f;
  in.A = Tensor::empty({st.M, kBits});
  for (int64_t i = 0; i < in.A.numel(); ++i) in.A.f32()[i] = static_cast<float>(rng.normal());
  in.b = Tensor::empty({1, kBits});
  for (int64_t i = 0; i < kBits; ++i) in.b.f32()[i] = static_cast<float>(rng.below(2));
  in.f.set_requires_grad(true);
  in.mu.set_requires_grad(true);
  return in;
}
}  // namespace

static void BM_WmRegularizerFwdBwd(benchmark::State& state) {
  const Site st = kSites[state.range(0)];
  Inputs in = make_inputs(st);
  for (auto _ : state) {
    Tensor v = WM_activity_regularizer(in.f, in.y, in.mu, in.T, in.A, in.b, 0.01f, 0.01f, 1.0f);
    const auto g = grad(v, {in.f, in.mu});
    benchmark::DoNotOptimize(g[0].f32());
  }
  const double bytes = 4.0 * (2 * st.B * st.M + 2 * st.S * st.M + st.M * kBits);
  state.counters["GB/s"] = benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(std::string(st.model) + " [" + std::to_string(st.B) + ", " + std::to_string(st.M) + "]");
}
BENCHMARK(BM_WmRegularizerFwdBwd)->DenseRange(0, 4)->Unit(benchmark::kMicrosecond)->UseRealTime();
