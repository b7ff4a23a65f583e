// The density op and the key search (watermark/deepsigns/key_search.h): fast == reference
// exactly, counts against brute force (including points exactly on the ball's edge), the
// k-th neighbour distance, the derived eps / threshold, the search's errors, and the sparsest-
// of-a-pool search.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "models/registry.h"
#include "tests/engine/gradcheck.h"
#include "watermark/deepsigns/hidden.h"
#include "watermark/deepsigns/key_search.h"

using namespace signet;

namespace {
std::vector<int64_t> ref_counts(const Tensor& Q, const Tensor& X, float eps) {
  std::vector<int64_t> c(Q.size(0));
  cpu::density_counts_ref(Q.f32(), Q.size(0), X.f32(), X.size(0), Q.size(1), eps, c.data());
  return c;
}

// Clustered points: a few Gaussian blobs, so that eps-balls hold very different counts.
Tensor blobs(int64_t n, int64_t P, Rng& rng, float spread = 0.3f) {
  const int64_t centres = 5;
  std::vector<float> c(centres * P);
  for (auto& v : c) v = rng.uniform(-3, 3);
  Tensor X = Tensor::empty({n, P});
  for (int64_t i = 0; i < n; ++i) {
    const int64_t k = static_cast<int64_t>(rng.below(centres));
    for (int64_t p = 0; p < P; ++p) X.f32()[i * P + p] = c[k * P + p] + spread * static_cast<float>(rng.normal());
  }
  return X;
}
}  // namespace

TEST(DensityCounts, FastEqualsReferenceExactly) {
  Rng rng(11);
  for (int64_t P : {1, 3, 27, 64}) {
    // N > the fast path's tile so several tiles (and a short last one) are covered.
    const int64_t N = 3000 + 17 * P, n = 37;
    const Tensor X = blobs(N, P, rng), Q = blobs(n, P, rng, 0.6f);
    for (float eps : {0.0f, 0.2f, 0.5f, 1.0f, 3.0f}) {
      const float e = eps * std::sqrt(static_cast<float>(P));
      const Tensor fast = density_counts(Q, X, e);
      EXPECT_EQ(fast.to_vector_i64(), ref_counts(Q, X, e)) << "P=" << P << " eps=" << e;
    }
  }
}

TEST(DensityCounts, PointsExactlyOnTheBallsEdgeCountAsInside) {
  // Integer points; 3-4-5 triangles put many pairs at distance exactly 5 (d2 = 25 = eps^2).
  std::vector<float> xs;
  for (int a = -6; a <= 6; ++a)
    for (int b = -6; b <= 6; ++b) {
      xs.push_back(static_cast<float>(a));
      xs.push_back(static_cast<float>(b));
    }
  const int64_t N = static_cast<int64_t>(xs.size() / 2);
  const Tensor X = Tensor::from_vector(xs, {N, 2});
  const Tensor Q = Tensor::from_vector({0, 0, 1, 2, 100, 100, 0.5f, 0.5f}, {4, 2});
  for (float eps : {5.0f, 1.0f, 0.0f, std::sqrt(2.0f)}) {
    std::vector<int64_t> brute(4, 0);
    for (int64_t i = 0; i < 4; ++i)
      for (int64_t j = 0; j < N; ++j) {
        const double dx = static_cast<double>(Q.f32()[2 * i]) - xs[2 * j], dy = static_cast<double>(Q.f32()[2 * i + 1]) - xs[2 * j + 1];
        brute[i] += dx * dx + dy * dy <= static_cast<double>(eps) * eps;
      }
    EXPECT_EQ(density_counts(Q, X, eps).to_vector_i64(), brute) << "eps " << eps;
    EXPECT_EQ(ref_counts(Q, X, eps), brute) << "eps " << eps;
  }
  // Known values: 81 lattice points within 5 of the origin; the origin itself at eps 0.
  EXPECT_EQ(density_counts(Q, X, 5.0f).i64()[0], 81);
  EXPECT_EQ(density_counts(Q, X, 0.0f).i64()[0], 1);
  EXPECT_EQ(density_counts(Q, X, 5.0f).i64()[2], 0);
}

TEST(DensityCounts, LargeOffsetsStillExact) {
  // Far from the origin: the GEMM form cancels ||a||^2 + ||b||^2 against 2 a.b; the exact
  // recheck near the edge keeps the counts right.
  Rng rng(3);
  Tensor X = blobs(2000, 8, rng, 0.05f), Q = blobs(50, 8, rng, 0.05f);
  for (int64_t i = 0; i < X.numel(); ++i) X.f32()[i] += 1000.0f;
  for (int64_t i = 0; i < Q.numel(); ++i) Q.f32()[i] += 1000.0f;
  for (float eps : {0.05f, 0.1f, 0.3f})
    EXPECT_EQ(density_counts(Q, X, eps).to_vector_i64(), ref_counts(Q, X, eps)) << eps;
}

TEST(DensityCounts, EdgeShapesAndErrors) {
  const Tensor X = Tensor::from_vector({0, 0, 1, 1}, {2, 2});
  EXPECT_EQ(density_counts(Tensor::empty({0, 2}), X, 1.0f).numel(), 0);
  EXPECT_EQ(density_counts(X, Tensor::empty({0, 2}), 1.0f).to_vector_i64(), (std::vector<int64_t>{0, 0}));
  EXPECT_EQ(density_counts(X, X, 1.5f).to_vector_i64(), (std::vector<int64_t>{2, 2}));
  EXPECT_THROW(density_counts(X, Tensor::zeros({2, 3}), 1.0f), Error);       // P differs
  EXPECT_THROW(density_counts(X, X, -1.0f), Error);                          // negative eps
  EXPECT_THROW(density_counts(X, X, NAN), Error);
  EXPECT_THROW(density_counts(Tensor::zeros({2, 2}, DType::I64), X, 1.0f), Error);
}

TEST(KthNeighbour, MatchesBruteForce) {
  Rng rng(8);
  const Tensor X = blobs(700, 5, rng);
  const Tensor Q = X.narrow_view(0, 10, 20).contiguous();
  std::vector<int64_t> self(20);
  for (int i = 0; i < 20; ++i) self[i] = 10 + i;
  for (int64_t k : {1, 3, 10}) {
    const auto got = kth_neighbour_distance(Q, X, k, self);
    for (int64_t i = 0; i < 20; ++i) {
      std::vector<double> d;
      for (int64_t j = 0; j < 700; ++j)
        if (j != self[i]) d.push_back(std::sqrt(cpu::exact_sq_dist(Q.f32() + i * 5, X.f32() + j * 5, 5)));
      std::nth_element(d.begin(), d.begin() + (k - 1), d.end());
      EXPECT_NEAR(got[i], d[k - 1], 1e-3 * (1 + d[k - 1])) << "k=" << k << " i=" << i;
    }
  }
  // Enough queries that the points come in several tiles: the k best carry over between tiles.
  const Tensor Y = blobs(1500, 5, rng);
  const Tensor many = Y.narrow_view(0, 0, 800).contiguous();
  std::vector<int64_t> own(800);
  for (int i = 0; i < 800; ++i) own[i] = i;
  const auto got = kth_neighbour_distance(many, Y, 4, own);
  for (int64_t i = 0; i < 800; i += 7) {
    std::vector<double> d;
    for (int64_t j = 0; j < 1500; ++j)
      if (j != i) d.push_back(std::sqrt(cpu::exact_sq_dist(many.f32() + i * 5, Y.f32() + j * 5, 5)));
    std::nth_element(d.begin(), d.begin() + 3, d.end());
    EXPECT_NEAR(got[i], d[3], 1e-3 * (1 + d[3])) << "i=" << i;
  }
  EXPECT_THROW(kth_neighbour_distance(Q, X, 0), Error);
  EXPECT_THROW(kth_neighbour_distance(Q, X, 700, self), Error);  // only 699 others
}

TEST(DensityModel, EpsAndThresholdFollowTheData) {
  Rng rng(5);
  const Tensor act = blobs(3000, 12, rng, 0.2f);
  DensityConfig cfg;
  cfg.eps_sample = 300;
  Rng r(1);
  const DensityModel dm = fit_density_model(act, "relu2", cfg, r);
  EXPECT_GT(dm.eps, 0);
  EXPECT_GE(dm.threshold, 1);
  EXPECT_EQ(dm.train_proj.size(0), 3000);
  ASSERT_EQ(static_cast<int64_t>(dm.eps_sample.size()), 300);
  // The sample's own ball counts, by the plain-loop reference (the fit counts only those that
  // can decide the threshold).
  const Tensor sample = index_select(dm.train_proj, 0, Tensor::from_vector_i64(dm.eps_sample, {300})).contiguous();
  std::vector<int64_t> own = ref_counts(sample, dm.train_proj, dm.eps);
  for (int64_t& c : own) --c;  // the point itself
  // eps is the median 10th-neighbour distance: about half the sample has >= 10 others inside.
  int64_t at_least_k = 0;
  for (int64_t c : own) at_least_k += c >= 10;
  EXPECT_GE(at_least_k, 140);
  EXPECT_LE(at_least_k, 160 + 20);
  // The threshold is the 1st percentile of those counts (floored at 1).
  auto percentile_threshold = [](std::vector<int64_t> sorted, double pct) {
    std::sort(sorted.begin(), sorted.end());
    const double pos = pct / 100 * static_cast<double>(sorted.size() - 1);
    const size_t lo = static_cast<size_t>(std::floor(pos)), hi = std::min(lo + 1, sorted.size() - 1);
    const double q = sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
    return std::max<int64_t>(1, static_cast<int64_t>(std::floor(q)));
  };
  EXPECT_EQ(dm.threshold, percentile_threshold(own, 1.0));
  // Percentiles that reach the counts of the densest points (where the fit must count them all).
  for (double pct : {30.0, 50.0, 75.0, 100.0}) {
    DensityConfig c2 = cfg;
    c2.threshold_percentile = pct;
    Rng r2(1);
    const DensityModel d2 = fit_density_model(act, "relu2", c2, r2);
    ASSERT_EQ(d2.eps_sample, dm.eps_sample);
    EXPECT_EQ(d2.threshold, percentile_threshold(own, pct)) << pct;
  }
  // A point far from every blob has an empty ball; a training point does not.
  const Tensor far = Tensor::full({1, dm.train_proj.size(1)}, 1e3f);
  EXPECT_EQ(density_counts(far, dm.train_proj, dm.eps).i64()[0], 0);
  EXPECT_GT(density_counts(dm.train_proj.narrow_view(0, 0, 1).contiguous(), dm.train_proj, dm.eps).i64()[0], 1);

  DensityConfig bad = cfg;
  bad.eps_quantile = 1.0;
  EXPECT_THROW(fit_density_model(act, "relu2", bad, r), Error);
  bad = cfg;
  bad.eps_neighbours = 5000;
  EXPECT_THROW(fit_density_model(act, "relu2", bad, r), Error);
}

TEST(DensityModel, ThePcaIsFittedOnASampleThatKeepsTheFullFitsVariance) {
  Rng rng(8);
  const Tensor act = blobs(4000, 16, rng, 0.5f);
  DensityConfig all, sampled;
  all.pca_sample = 0;
  sampled.pca_sample = 1000;
  all.max_components = sampled.max_components = 4;
  all.eps_sample = sampled.eps_sample = 100;
  Rng r1(3), r2(3);
  const DensityModel full = fit_density_model(act, "relu2", all, r1);
  const DensityModel part = fit_density_model(act, "relu2", sampled, r2);
  // pca_sample 0: the PCA of every point, exactly.
  const PcaModel direct = fit_pca(act, all.explained_variance, 4);
  EXPECT_EQ(full.pca.mean.to_vector(), direct.mean.to_vector());
  EXPECT_EQ(full.pca.components.to_vector(), direct.components.to_vector());
  // The sample's fit differs, but its components hold almost all the variance the full fit's do.
  EXPECT_NE(part.pca.mean.to_vector(), direct.mean.to_vector());
  auto variance = [](const Tensor& Y) {
    const int64_t N = Y.size(0), P = Y.size(1);
    double total = 0;
    for (int64_t p = 0; p < P; ++p) {
      double s = 0, s2 = 0;
      for (int64_t i = 0; i < N; ++i) {
        s += Y.f32()[i * P + p];
        s2 += static_cast<double>(Y.f32()[i * P + p]) * Y.f32()[i * P + p];
      }
      total += (s2 - s * s / N) / (N - 1);
    }
    return total;
  };
  EXPECT_GT(variance(part.train_proj) / variance(full.train_proj), 0.99);
  EXPECT_LE(variance(part.train_proj) / variance(full.train_proj), 1.0 + 1e-6);
  EXPECT_EQ(part.train_proj.size(0), 4000);  // every point is projected
  DensityConfig bad = all;
  bad.pca_sample = -1;
  EXPECT_THROW(fit_density_model(act, "relu2", bad, r1), Error);
}

namespace {
// An untrained MLP and a density model of "training data": images with a bright top half, so
// that random uniform candidates look different. Normalisation 0.45 / 0.45.
struct BrightTop {
  Rng init{2}, rng{3};
  Model model = build_model("mnist-mlp", ModelConfig{}, init);
  const Normalization norm{{0.45f}, {0.45f}};
  DensityConfig cfg = [] {
    DensityConfig c;
    c.eps_sample = 200;
    return c;
  }();
  DensityModel dm = fit_density_model(activations(), "relu2", cfg, rng);

  Tensor activations() {
    Tensor imgs = Tensor::empty({600, 1, 28, 28});
    for (int64_t i = 0; i < imgs.numel(); ++i)
      imgs.f32()[i] = (((i % 784) < 392 ? 0.9f : 0.0f) + 0.05f * rng.uniform(0, 1) - 0.45f) / 0.45f;
    Taps t;
    t.wanted.insert("relu2");
    NoGradGuard ng;
    model.net->eval();
    model(imgs, &t);
    return flatten(t.require("relu2"), 1).contiguous();
  }
};
}  // namespace

TEST(DensityKeySearch, FindsLowDensityCandidatesOrSaysWhatToChange) {
  BrightTop f;
  auto& [init, rng, model, norm, cfg, dm] = f;
  const KeySearchResult r = density_key_search(model, norm, dm, 25, {1, 28, 28}, cfg, rng);
  EXPECT_EQ(r.inputs.shape(), (Shape{25, 1, 28, 28}));
  EXPECT_EQ(static_cast<int64_t>(r.counts.size()), 25);
  for (int64_t c : r.counts) EXPECT_LT(c, dm.threshold);
  EXPECT_GE(r.drawn, 25);
  for (float v : r.inputs.to_vector()) ASSERT_TRUE(v >= 0 && v < 1);
  // Re-counting the accepted inputs gives the recorded counts.
  const Tensor again = density_counts(pca_project(dm.pca, get_activations(model, r.inputs, norm, "relu2")),
                                      dm.train_proj, dm.eps);
  EXPECT_EQ(again.to_vector_i64(), r.counts);
  // Impossible density: an enormous eps puts every training activation in every ball.
  DensityModel dense = dm;
  dense.eps = 1e9f;
  DensityConfig few = cfg;
  few.max_rounds = 3;
  try {
    density_key_search(model, norm, dense, 10, {1, 28, 28}, few, rng);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("after 3 rounds"), std::string::npos) << m;
    EXPECT_NE(m.find("--key-search random"), std::string::npos) << m;
  }
}

// The sparsest search keeps exactly the `wanted` candidates of its pool that lie farthest from
// the training activations, so its acceptance rate is 1 / kSparsestPool whatever the data.
TEST(SparsestKeySearch, KeepsTheFarthestOfItsPoolInDrawOrder) {
  BrightTop f;
  auto& [init, rng, model, norm, cfg, dm] = f;
  const int64_t wanted = 12;
  Rng search(7), replay(7);
  const KeySearchResult r = sparsest_key_search(model, norm, dm, wanted, {1, 28, 28}, cfg, search);
  EXPECT_EQ(r.inputs.shape(), (Shape{wanted, 1, 28, 28}));
  EXPECT_EQ(r.drawn, wanted * kSparsestPool);
  // The same pool, drawn again: the kept ones are its `wanted` largest distances, in draw order.
  const Tensor pool = random_pixel_inputs(wanted * kSparsestPool, {1, 28, 28}, replay);
  const std::vector<float> dist = kth_neighbour_distance(
      pca_project(dm.pca, get_activations(model, pool, norm, "relu2")).contiguous(), dm.train_proj,
      cfg.eps_neighbours);
  std::vector<float> sorted = dist;
  std::sort(sorted.rbegin(), sorted.rend());
  std::vector<int64_t> kept;
  for (int64_t i = 0; i < static_cast<int64_t>(dist.size()); ++i)
    if (dist[i] >= sorted[wanted - 1]) kept.push_back(i);
  ASSERT_EQ(static_cast<int64_t>(kept.size()), wanted);
  EXPECT_EQ(index_select(pool, 0, Tensor::from_vector_i64(kept, {wanted})).to_vector(), r.inputs.to_vector());
  EXPECT_FLOAT_EQ(r.cutoff, sorted[wanted - 1]);
  for (float d : r.kth_distance) EXPECT_GE(d, r.cutoff);
  ASSERT_EQ(static_cast<int64_t>(r.counts.size()), wanted);
}
