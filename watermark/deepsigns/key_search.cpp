#include "watermark/deepsigns/key_search.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/cuda/runtime.h"
#include "engine/ops.h"
#include "engine/ops/dispatch.h"
#include "watermark/deepsigns/hidden.h"

namespace signet {

Tensor density_counts(const Tensor& queries, const Tensor& points, float eps) {
  SIGNET_DISPATCH_CPU_OR_CUDA("density_counts", {queries, points});
  SIGNET_CHECK(queries.dim() == 2 && points.dim() == 2 && queries.dtype() == DType::F32 &&
                   points.dtype() == DType::F32 && queries.size(1) == points.size(1),
               "density_counts: queries {} and points {} must be float32 [n, P] and [N, P] with the same P",
               queries.str(), points.str());
  SIGNET_CHECK(std::isfinite(eps) && eps >= 0, "density_counts: eps must be a finite number >= 0, got {}", eps);
  const Tensor q = queries.contiguous(), x = points.contiguous();
  Tensor out = Tensor::empty({q.size(0)}, DType::I64, q.device());
  if (q.device().is_cuda())  // our kernel (kernels/density.cuh), one block per query
    cuda::kernels(q.device()).density_counts(q.device_f32(), q.size(0), x.device_f32(), x.size(0), q.size(1), eps,
                                             out.device_i64(), nullptr);
  else
    cpu::density_counts_fast(q.f32(), q.size(0), x.f32(), x.size(0), q.size(1), eps, out.i64());
  return out;
}

std::vector<float> kth_neighbour_distance(const Tensor& queries, const Tensor& points, int64_t k,
                                          const std::vector<int64_t>& self_index) {
  SIGNET_CHECK(queries.dim() == 2 && points.dim() == 2 && queries.size(1) == points.size(1) &&
                   queries.dtype() == DType::F32 && points.dtype() == DType::F32,
               "kth_neighbour_distance: queries {} and points {} must be float32 [n, P], [N, P]", queries.str(),
               points.str());
  const Tensor Qt = queries.contiguous(), Xt = points.contiguous();
  const int64_t n = Qt.size(0), N = Xt.size(0), P = Qt.size(1);
  SIGNET_CHECK(self_index.empty() || static_cast<int64_t>(self_index.size()) == n,
               "kth_neighbour_distance: {} self indices for {} queries", self_index.size(), n);
  SIGNET_CHECK(k >= 1 && k <= N - (self_index.empty() ? 0 : 1),
               "kth_neighbour_distance: k = {} neighbours asked of {} points", k, N);
  std::vector<float> out(n);
  cpu::kth_sq_distances(Qt.f32(), n, Xt.f32(), N, P, k, self_index.empty() ? nullptr : self_index.data(), out.data());
  for (float& d : out) d = std::sqrt(d);
  return out;
}

static double quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos)), hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

DensityModel fit_density_model(const Tensor& train_activations, const std::string& layer, const DensityConfig& cfg,
                               Rng& rng) {
  SIGNET_CHECK(cfg.eps_neighbours >= 1, "the eps neighbour count must be >= 1, got {}", cfg.eps_neighbours);
  SIGNET_CHECK(cfg.eps_quantile > 0 && cfg.eps_quantile < 1, "the eps quantile must be in (0, 1), got {}",
               cfg.eps_quantile);
  SIGNET_CHECK(cfg.threshold_percentile >= 0 && cfg.threshold_percentile <= 100,
               "the density threshold percentile must be in [0, 100], got {}", cfg.threshold_percentile);
  SIGNET_CHECK(cfg.eps_sample >= 1, "the eps sample size must be >= 1, got {}", cfg.eps_sample);
  DensityModel dm;
  dm.layer = layer;
  SIGNET_CHECK(cfg.pca_sample >= 0, "the PCA sample size must be >= 0 (0: all points), got {}", cfg.pca_sample);
  Tensor pca_points = train_activations;
  if (cfg.pca_sample > 0 && train_activations.dim() == 2 && train_activations.size(0) > cfg.pca_sample) {
    std::vector<int64_t> pick(static_cast<size_t>(train_activations.size(0)));
    for (size_t i = 0; i < pick.size(); ++i) pick[i] = static_cast<int64_t>(i);
    rng.shuffle(pick);
    pick.resize(static_cast<size_t>(cfg.pca_sample));
    std::sort(pick.begin(), pick.end());  // rows in memory order
    pca_points = index_select(train_activations, 0, Tensor::from_vector_i64(pick, {cfg.pca_sample}));
  }
  dm.pca = fit_pca(pca_points, cfg.explained_variance, cfg.max_components,
                   fmt::format("the training activations of layer '{}'", layer));
  dm.train_proj = pca_project(dm.pca, train_activations).contiguous();
  const int64_t N = dm.train_proj.size(0);
  SIGNET_CHECK(N > cfg.eps_neighbours,
               "the density model needs more than {} training points (eps is the distance to the {}-th nearest "
               "neighbour), got {}",
               cfg.eps_neighbours, cfg.eps_neighbours, N);
  // The subsample that sets eps and the threshold.
  std::vector<int64_t> idx(N);
  for (int64_t i = 0; i < N; ++i) idx[i] = i;
  rng.shuffle(idx);
  idx.resize(std::min(N, cfg.eps_sample));
  const Tensor sample = index_select(dm.train_proj, 0, Tensor::from_vector_i64(idx, {static_cast<int64_t>(idx.size())}))
                            .contiguous();
  const int64_t n = sample.size(0), P = sample.size(1), k = cfg.eps_neighbours;
  std::vector<float> kth_sq(n);
  cpu::kth_sq_distances(sample.f32(), n, dm.train_proj.f32(), N, P, k, idx.data(), kth_sq.data());
  std::vector<double> kth(n);
  for (int64_t i = 0; i < n; ++i) kth[i] = std::sqrt(static_cast<double>(kth_sq[i]));
  dm.eps = static_cast<float>(quantile(kth, cfg.eps_quantile));
  SIGNET_CHECK(dm.eps > 0,
               "the training activations of layer '{}' are too concentrated: the median distance to the {}-th "
               "nearest neighbour is 0 (many identical activations); raise the neighbour count",
               layer, cfg.eps_neighbours);
  // own[i]: how many other training points sample point i's ball holds. A point whose k nearest
  // are surely inside holds at least k; the others are counted. The percentile needs the
  // sorted values at floor(pos) and the one after: when the counted ones already reach them at
  // or below k, the lower bound k of the rest changes nothing; otherwise count the rest too.
  std::vector<uint8_t> dense(n);
  cpu::kth_surely_within(sample.f32(), n, dm.train_proj.f32(), N, P, kth_sq.data(), dm.eps, dense.data());
  std::vector<double> own(n, static_cast<double>(k));
  auto count_exactly = [&](bool which) {
    std::vector<int64_t> rows;
    for (int64_t i = 0; i < n; ++i)
      if (static_cast<bool>(dense[i]) == which) rows.push_back(i);
    if (rows.empty()) return std::vector<double>{};
    const Tensor c = density_counts(
        index_select(sample, 0, Tensor::from_vector_i64(rows, {static_cast<int64_t>(rows.size())})), dm.train_proj,
        dm.eps);
    std::vector<double> got;
    for (size_t r = 0; r < rows.size(); ++r) {
      own[rows[r]] = static_cast<double>(c.i64()[r] - 1);  // the point itself is in its ball
      got.push_back(own[rows[r]]);
    }
    return got;
  };
  std::vector<double> counted = count_exactly(false);
  const double pos = cfg.threshold_percentile / 100.0 * static_cast<double>(n - 1);
  const size_t needed = std::min(static_cast<size_t>(std::floor(pos)) + 1, static_cast<size_t>(n - 1));
  std::sort(counted.begin(), counted.end());
  if (counted.size() <= needed || counted[needed] > static_cast<double>(k)) count_exactly(true);
  dm.threshold = std::max<int64_t>(
      1, static_cast<int64_t>(std::floor(quantile(own, cfg.threshold_percentile / 100.0))));
  dm.eps_sample = idx;
  return dm;
}

Tensor random_pixel_inputs(int64_t n, const Shape& input_shape, Rng& rng) {
  Shape s{n};
  s.insert(s.end(), input_shape.begin(), input_shape.end());
  Tensor x = Tensor::empty(s);
  float* p = x.f32();
  for (int64_t i = 0; i < x.numel(); ++i) p[i] = static_cast<float>(rng.uniform());
  return x;
}

KeySearchResult density_key_search(Model& model, const Normalization& norm, const DensityModel& dm, int64_t wanted,
                                   const Shape& input_shape, const DensityConfig& cfg, Rng& rng) {
  SIGNET_CHECK(wanted >= 1, "the key search needs to find at least 1 candidate, asked for {}", wanted);
  SIGNET_CHECK(cfg.max_rounds >= 1, "the key search needs at least 1 round, got {}", cfg.max_rounds);
  KeySearchResult r;
  std::vector<Tensor> kept;
  int64_t have = 0;
  while (have < wanted && r.rounds < cfg.max_rounds) {
    ++r.rounds;
    // Every round draws `wanted` fresh candidates (at least what is still missing), so the
    // search succeeds whenever the acceptance rate is above about 1 / max_rounds.
    const int64_t draw = wanted;
    const Tensor cand = random_pixel_inputs(draw, input_shape, rng);
    const Tensor proj = pca_project(dm.pca, get_activations(model, cand, norm, dm.layer));
    const Tensor counts = density_counts(proj, dm.train_proj, dm.eps);
    std::vector<int64_t> accept;
    for (int64_t i = 0; i < draw && have + static_cast<int64_t>(accept.size()) < wanted; ++i) {
      ++r.drawn;  // examined (candidates after the last one needed are discarded unexamined)
      if (counts.i64()[i] < dm.threshold) {
        accept.push_back(i);
        r.counts.push_back(counts.i64()[i]);
      }
    }
    if (!accept.empty())
      kept.push_back(index_select(cand, 0, Tensor::from_vector_i64(accept, {static_cast<int64_t>(accept.size())})));
    have += static_cast<int64_t>(accept.size());
  }
  SIGNET_CHECK(have >= wanted,
               "the density key search found only {} of {} candidates in low-density regions after {} rounds ({} "
               "random inputs drawn; eps {:.4g}, accepting fewer than {} training activations in the ball): lower "
               "--keys (K' = 20 K candidates are needed), or use --key-search random",
               have, wanted, r.rounds, r.drawn, dm.eps, dm.threshold);
  r.inputs = concat(kept, 0).contiguous();
  return r;
}

KeySearchResult sparsest_key_search(Model& model, const Normalization& norm, const DensityModel& dm, int64_t wanted,
                                    const Shape& input_shape, const DensityConfig& cfg, Rng& rng) {
  SIGNET_CHECK(wanted >= 1, "the key search needs to find at least 1 candidate, asked for {}", wanted);
  const int64_t pool = checked_mul(wanted, kSparsestPool, "the sparsest key search's candidate pool");
  const Tensor cand = random_pixel_inputs(pool, input_shape, rng);
  const Tensor proj = pca_project(dm.pca, get_activations(model, cand, norm, dm.layer)).contiguous();
  const std::vector<float> dist = kth_neighbour_distance(proj, dm.train_proj, cfg.eps_neighbours);
  // The `wanted` largest distances (ties broken by draw order), then back into draw order.
  std::vector<int64_t> order(static_cast<size_t>(pool));
  for (int64_t i = 0; i < pool; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return dist[a] > dist[b]; });
  order.resize(static_cast<size_t>(wanted));
  std::sort(order.begin(), order.end());
  KeySearchResult r;
  r.drawn = pool;
  r.rounds = 1;
  r.inputs = index_select(cand, 0, Tensor::from_vector_i64(order, {wanted})).contiguous();
  const Tensor counts = density_counts(
      index_select(proj, 0, Tensor::from_vector_i64(order, {wanted})).contiguous(), dm.train_proj, dm.eps);
  for (int64_t k = 0; k < wanted; ++k) {
    r.counts.push_back(counts.i64()[k]);
    r.kth_distance.push_back(dist[order[k]]);
  }
  r.cutoff = *std::min_element(r.kth_distance.begin(), r.kth_distance.end());
  return r;
}

}  // namespace signet
