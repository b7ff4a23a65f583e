// DeepSigns density key search (watermark/deepsigns/key_search.h) at the paper's MNIST-MLP
// scale: 60,000 training activations of the 512-wide second-to-last layer, K' = 400 candidates.
//   BM_DensityCounts/P        the op alone: counts of 400 queries against 60,000 points in P
//                             dimensions (GEMM tiles + fused threshold/count).
//   BM_DensityCountsRef/P     the plain-loop reference (exact distances), for comparison.
//   BM_KeySearchRound/P       one search round as density_key_search runs it after the density
//                             model is fitted: project the 400 candidates' [400, 512]
//                             activations with the PCA dense layer, then count.
//   BM_ProjectAndCount/P      everything after the PCA fit: project all 60,000 training
//                             activations [60000, 512] -> [60000, P] (one GEMM), project the
//                             candidates, count.
//   BM_FitPca                 the PCA itself (covariance of [60000, 512] + eigendecomposition).
//   BM_FitPcaSample/n         the same on n of the points (DensityConfig::pca_sample is the
//                             density model's), and how much of the full fit's variance it keeps.
//   BM_FitDensityModel        all of fit_density_model: the PCA, projecting the 60,000
//                             activations, and setting eps and the threshold from a 1,000-point
//                             sample. With one BM_KeySearchRound this is the whole search but
//                             the model's own forward passes.
// P = 27 is what 95% of the variance needs for the Fashion-MNIST MLP (relu2); 64 is a margin.
// Activations are synthetic: low-rank (P_true = 32) ReLU features plus noise, like a trained
// layer's.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <map>

#include "engine/ops.h"
#include "watermark/deepsigns/key_search.h"
#include "watermark/deepsigns/pca.h"

using namespace signet;

namespace {
Tensor relu_lowrank(int64_t n, int64_t M, uint64_t seed) {
  Rng rng(seed);
  const int64_t R = 32;
  static std::vector<float> mix;
  if (mix.empty()) {
    Rng mr(1234);
    mix.resize(R * M);
    for (auto& v : mix) v = static_cast<float>(mr.normal()) * 0.3f;
  }
  Tensor x = Tensor::empty({n, M});
  std::vector<float> z(R);
  for (int64_t i = 0; i < n; ++i) {
    for (auto& v : z) v = static_cast<float>(rng.normal());
    for (int64_t m = 0; m < M; ++m) {
      float a = 0.05f * static_cast<float>(rng.normal());
      for (int64_t r = 0; r < R; ++r) a += z[r] * mix[r * M + m];
      x.f32()[i * M + m] = std::max(0.0f, a);
    }
  }
  return x;
}

struct Fixture {
  Tensor train_act, cand_act;
  PcaModel pca;
  Tensor train_proj, cand_proj;
  float eps = 0;
};

const Fixture& fixture(int64_t P) {
  static std::map<int64_t, Fixture> cache;
  auto it = cache.find(P);
  if (it != cache.end()) return it->second;
  static Tensor train = relu_lowrank(60000, 512, 1), cand = relu_lowrank(400, 512, 2);
  Fixture f;
  f.train_act = train;
  f.cand_act = cand;
  f.pca = fit_pca(train, 1.0, P);
  f.train_proj = pca_project(f.pca, train).contiguous();
  f.cand_proj = pca_project(f.pca, cand).contiguous();
  // eps as fit_density_model sets it: median 10th-neighbour distance of a 1000-point sample.
  Tensor sample = f.train_proj.narrow_view(0, 0, 1000).contiguous();
  std::vector<int64_t> self(1000);
  for (int64_t i = 0; i < 1000; ++i) self[i] = i;
  auto d = kth_neighbour_distance(sample, f.train_proj, 10, self);
  std::nth_element(d.begin(), d.begin() + 500, d.end());
  f.eps = d[500];
  return cache.emplace(P, f).first->second;
}
}  // namespace

static void BM_DensityCounts(benchmark::State& state) {
  const Fixture& f = fixture(state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(density_counts(f.cand_proj, f.train_proj, f.eps).i64());
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * 400 * 60000 * state.range(0),
                                                 benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}
BENCHMARK(BM_DensityCounts)->Arg(27)->Arg(64)->Unit(benchmark::kMillisecond)->UseRealTime();

static void BM_DensityCountsRef(benchmark::State& state) {
  const Fixture& f = fixture(state.range(0));
  std::vector<int64_t> c(400);
  for (auto _ : state) {
    cpu::density_counts_ref(f.cand_proj.f32(), 400, f.train_proj.f32(), 60000, state.range(0), f.eps, c.data());
    benchmark::DoNotOptimize(c.data());
  }
}
BENCHMARK(BM_DensityCountsRef)->Arg(27)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);

static void BM_KeySearchRound(benchmark::State& state) {
  const Fixture& f = fixture(state.range(0));
  for (auto _ : state)
    benchmark::DoNotOptimize(density_counts(pca_project(f.pca, f.cand_act), f.train_proj, f.eps).i64());
}
BENCHMARK(BM_KeySearchRound)->Arg(27)->Arg(64)->Unit(benchmark::kMillisecond)->UseRealTime();

static void BM_ProjectAndCount(benchmark::State& state) {
  const Fixture& f = fixture(state.range(0));
  for (auto _ : state) {
    const Tensor tp = pca_project(f.pca, f.train_act);
    benchmark::DoNotOptimize(density_counts(pca_project(f.pca, f.cand_act), tp, f.eps).i64());
  }
}
BENCHMARK(BM_ProjectAndCount)->Arg(27)->Arg(64)->Unit(benchmark::kMillisecond)->UseRealTime();

static void BM_FitPca(benchmark::State& state) {
  const Fixture& f = fixture(27);
  for (auto _ : state) benchmark::DoNotOptimize(fit_pca(f.train_act, 0.95).components.f32());
}
BENCHMARK(BM_FitPca)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

// The PCA on the density model's sample (DensityConfig::pca_sample rows of the 60,000).
// Counter kept_vs_full: the variance of all 60,000 points inside the sample fit's 27 leading
// components, over the same inside the full fit's (1 = the sample loses nothing).
static double projected_variance(const PcaModel& pca, const Tensor& X) {
  const Tensor Y = pca_project(pca, X).contiguous();
  const int64_t N = Y.size(0), P = Y.size(1);
  double total = 0;
  for (int64_t p = 0; p < P; ++p) {
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < N; ++i) {
      const double v = Y.f32()[i * P + p];
      s += v;
      s2 += v * v;
    }
    total += (s2 - s * s / N) / (N - 1);
  }
  return total;
}

static void BM_FitPcaSample(benchmark::State& state) {
  const Fixture& f = fixture(27);
  const int64_t n = state.range(0);
  const Tensor sample = f.train_act.narrow_view(0, 0, n).contiguous();
  for (auto _ : state) benchmark::DoNotOptimize(fit_pca(sample, 0.95).components.f32());
  state.counters["kept_vs_full"] =
      projected_variance(fit_pca(sample, 1.0, 27), f.train_act) / projected_variance(f.pca, f.train_act);
}
BENCHMARK(BM_FitPcaSample)->Arg(10000)->Arg(DensityConfig{}.pca_sample)->Arg(2000)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);

static void BM_FitDensityModel(benchmark::State& state) {
  const Fixture& f = fixture(27);
  // Capped at the MLP's P: the synthetic activations need more components for 95% of their variance.
  DensityConfig cfg;
  cfg.max_components = 27;
  for (auto _ : state) {
    Rng rng(5);
    benchmark::DoNotOptimize(fit_density_model(f.train_act, "relu2", cfg, rng).train_proj.f32());
  }
  state.counters["P_uncapped"] = static_cast<double>(fit_pca(f.train_act, 0.95).out_features());
}
BENCHMARK(BM_FitDensityModel)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

// The eps calibration's k-th neighbour distances: 1,000 sampled training points against all 60,000.
static void BM_KthNeighbour(benchmark::State& state) {
  const Fixture& f = fixture(27);
  const Tensor sample = f.train_proj.narrow_view(0, 0, 1000).contiguous();
  std::vector<int64_t> self(1000);
  for (int64_t i = 0; i < 1000; ++i) self[i] = i;
  for (auto _ : state) benchmark::DoNotOptimize(kth_neighbour_distance(sample, f.train_proj, 10, self).data());
}
BENCHMARK(BM_KthNeighbour)->Unit(benchmark::kMillisecond)->UseRealTime();
