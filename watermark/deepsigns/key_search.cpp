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
  const float* Q = Qt.f32();
  const float* X = Xt.f32();
  std::vector<float> nq(n), nx(N);
  for (int64_t i = 0; i < n; ++i) {
    double s = 0;
    for (int64_t p = 0; p < P; ++p) s += static_cast<double>(Q[i * P + p]) * Q[i * P + p];
    nq[i] = static_cast<float>(s);
  }
  for (int64_t j = 0; j < N; ++j) {
    double s = 0;
    for (int64_t p = 0; p < P; ++p) s += static_cast<double>(X[j * P + p]) * X[j * P + p];
    nx[j] = static_cast<float>(s);
  }
  // best[i]: the k smallest squared distances so far, a max-heap.
  std::vector<std::vector<float>> best(n);
  const int64_t TB = std::max<int64_t>(64, std::min<int64_t>(N, (int64_t{1} << 19) / std::max<int64_t>(n, 1)));
  std::vector<float> tile(n * std::min(TB, N));
  for (int64_t j0 = 0; j0 < N; j0 += TB) {
    const int64_t jb = std::min(TB, N - j0);
    cpu::gemm_fast(false, true, n, jb, P, -2.0f, Q, P, X + j0 * P, P, 0.0f, tile.data(), jb);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      auto& h = best[i];
      const int64_t self = self_index.empty() ? -1 : self_index[i];
      const float* row = tile.data() + i * jb;
      const float* nxj = nx.data() + j0;
      const float qi = nq[i];
      // The bar a distance must pass: almost every point fails it, so the loop is one add and
      // one compare per point; the heap is touched only for the few that pass.
      float bar = static_cast<int64_t>(h.size()) < k ? std::numeric_limits<float>::infinity() : h.front();
      for (int64_t j = 0; j < jb; ++j) {
        float d = qi + nxj[j] + row[j];
        if (!(d < bar) || j0 + j == self) continue;
        d = std::max(0.0f, d);
        if (static_cast<int64_t>(h.size()) < k) {
          h.push_back(d);
          std::push_heap(h.begin(), h.end());
        } else if (d < h.front()) {
          std::pop_heap(h.begin(), h.end());
          h.back() = d;
          std::push_heap(h.begin(), h.end());
        }
        bar = static_cast<int64_t>(h.size()) < k ? std::numeric_limits<float>::infinity() : h.front();
      }
    }
  }
  std::vector<float> out(n);
  for (int64_t i = 0; i < n; ++i) out[i] = std::sqrt(best[i].front());
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
  dm.pca = fit_pca(train_activations, cfg.explained_variance, cfg.max_components,
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
  const std::vector<float> kth = kth_neighbour_distance(sample, dm.train_proj, cfg.eps_neighbours, idx);
  dm.eps = static_cast<float>(quantile(std::vector<double>(kth.begin(), kth.end()), cfg.eps_quantile));
  SIGNET_CHECK(dm.eps > 0,
               "the training activations of layer '{}' are too concentrated: the median distance to the {}-th "
               "nearest neighbour is 0 (many identical activations); raise the neighbour count",
               layer, cfg.eps_neighbours);
  const Tensor counts = density_counts(sample, dm.train_proj, dm.eps);
  std::vector<double> own;
  for (int64_t i = 0; i < counts.numel(); ++i) {
    dm.sample_counts.push_back(counts.i64()[i] - 1);  // the point itself is in its ball
    own.push_back(static_cast<double>(counts.i64()[i] - 1));
  }
  dm.threshold = std::max<int64_t>(
      1, static_cast<int64_t>(std::floor(quantile(own, cfg.threshold_percentile / 100.0))));
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
