// PCA of activations (watermark/deepsigns/pca.h): known principal axes, the dense-layer form of
// the projection, component selection by explained variance, errors.
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>

#include "tests/engine/gradcheck.h"
#include "watermark/deepsigns/pca.h"

using namespace signet;

namespace {
// An orthonormal basis of R^4 (columns): a Householder reflection of e_1..e_4.
std::vector<std::vector<double>> basis4() {
  const double v[4] = {1, 2, -1, 3};
  const double vv = 1 + 4 + 1 + 9;
  std::vector<std::vector<double>> r(4, std::vector<double>(4));
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) r[j][i] = (i == j ? 1.0 : 0.0) - 2 * v[i] * v[j] / vv;  // column j
  return r;
}

// 8 points: mean +- s_i r_i. Their sample covariance is exactly (2 / 7) sum_i s_i^2 r_i r_i^T, so
// the principal axes are r_0..r_3 with eigenvalues 2 s_i^2 / 7.
Tensor axes_dataset(const std::vector<double>& s, const std::vector<double>& mean) {
  const auto r = basis4();
  Tensor X = Tensor::empty({8, 4});
  for (int i = 0; i < 4; ++i)
    for (int sign = 0; sign < 2; ++sign)
      for (int m = 0; m < 4; ++m)
        X.f32()[(2 * i + sign) * 4 + m] = static_cast<float>(mean[m] + (sign ? -1 : 1) * s[i] * r[i][m]);
  return X;
}
}  // namespace

TEST(Pca, RecoversKnownPrincipalAxesAndVariances) {
  const std::vector<double> s = {5, 3, 1, 0.1}, mean = {1, -2, 0.5, 4};
  const PcaModel p = fit_pca(axes_dataset(s, mean), 1.0);
  ASSERT_EQ(p.components.shape(), (Shape{4, 4}));
  const auto r = basis4();
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(p.eigenvalues[i], 2 * s[i] * s[i] / 7, 1e-4 * (1 + s[i] * s[i])) << "eigenvalue " << i;
    double dot = 0;
    for (int m = 0; m < 4; ++m) dot += p.components.f32()[m * 4 + i] * r[i][m];
    EXPECT_NEAR(std::fabs(dot), 1.0, 1e-5) << "axis " << i;
    // Sign convention: the entry of largest magnitude is positive.
    float big = 0;
    for (int m = 0; m < 4; ++m)
      if (std::fabs(p.components.f32()[m * 4 + i]) > std::fabs(big)) big = p.components.f32()[m * 4 + i];
    EXPECT_GT(big, 0);
  }
  for (int m = 0; m < 4; ++m) EXPECT_NEAR(p.mean.f32()[m], mean[m], 1e-5);
  EXPECT_NEAR(p.explained, 1.0, 1e-12);
}

TEST(Pca, KeepsTheFewestComponentsReachingTheExplainedVariance) {
  // Variances 25, 9, 1, 0.01 (times 2/7): the first two hold 34/35.01 = 97.1%.
  const Tensor X = axes_dataset({5, 3, 1, 0.1}, {0, 0, 0, 0});
  EXPECT_EQ(fit_pca(X, 0.95).out_features(), 2);
  EXPECT_NEAR(fit_pca(X, 0.95).explained, 34 / 35.01, 1e-5);
  EXPECT_EQ(fit_pca(X, 0.98).out_features(), 3);
  EXPECT_EQ(fit_pca(X, 0.5).out_features(), 1);
  EXPECT_EQ(fit_pca(X, 1.0, 2).out_features(), 2);  // capped
}

TEST(Pca, ProjectionIsTheCentredProductAndADenseLayer) {
  Rng rng(4);
  const Tensor X = test::normal_tensor({300, 6}, rng);
  for (int64_t i = 0; i < 300; ++i) X.f32()[i * 6 + 2] = 3 * X.f32()[i * 6] + 7;  // a correlated feature
  const PcaModel p = fit_pca(X, 0.99);
  const Tensor Y = pca_project(p, X);
  const int64_t P = p.out_features();
  ASSERT_EQ(Y.shape(), (Shape{300, P}));
  std::vector<float> want(300 * P);
  for (int64_t n = 0; n < 300; ++n)
    for (int64_t k = 0; k < P; ++k) {
      double acc = 0;
      for (int64_t m = 0; m < 6; ++m)
        acc += (static_cast<double>(X.f32()[n * 6 + m]) - p.mean.f32()[m]) * p.components.f32()[m * P + k];
      want[n * P + k] = static_cast<float>(acc);
    }
  EXPECT_TRUE(test::all_close(Y.to_vector(), want, 1e-4, 1e-4, "pca_project"));
  // Linear layout: weight [P, M] = components^T, bias = -mean W.
  EXPECT_EQ(p.weight().shape(), (Shape{P, 6}));
  EXPECT_EQ(p.bias().shape(), (Shape{P}));
  // The projected training data is centred and decorrelated, with the eigenvalues as variances.
  for (int64_t a = 0; a < P; ++a) {
    double mean = 0;
    for (int64_t n = 0; n < 300; ++n) mean += Y.f32()[n * P + a];
    EXPECT_NEAR(mean / 300, 0, 1e-4);
    for (int64_t b = 0; b < P; ++b) {
      double c = 0;
      for (int64_t n = 0; n < 300; ++n) c += static_cast<double>(Y.f32()[n * P + a]) * Y.f32()[n * P + b];
      c /= 299;
      EXPECT_NEAR(c, a == b ? p.eigenvalues[a] : 0.0, 1e-3 * (1 + p.eigenvalues[0])) << a << "," << b;
    }
  }
}

// The fast fit (threaded chunks, symmetric tiles, LAPACK) against the definition: a plain
// double-loop covariance and Eigen's solver. 200 features: tiles of 128 and 72; 5000 rows: several
// chunks per thread.
TEST(Pca, MatchesThePlainLoopCovarianceAndEigensolver) {
  const int64_t N = 5000, M = 200, R = 12;
  Rng rng(9);
  const Tensor Z = test::normal_tensor({N, R}, rng), mix = test::normal_tensor({R, M}, rng);
  Tensor X = Tensor::empty({N, M});
  for (int64_t n = 0; n < N; ++n)
    for (int64_t m = 0; m < M; ++m) {
      double a = 0.1 * rng.normal() + 0.5 * m / M;
      for (int64_t r = 0; r < R; ++r) a += (r + 1) * 0.3 * Z.f32()[n * R + r] * mix.f32()[r * M + m];
      X.f32()[n * M + m] = static_cast<float>(a);
    }
  Eigen::VectorXd mean = Eigen::VectorXd::Zero(M);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t m = 0; m < M; ++m) mean(m) += X.f32()[n * M + m];
  mean /= N;
  Eigen::MatrixXd C = Eigen::MatrixXd::Zero(M, M);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < M; ++j) C(i, j) += (X.f32()[n * M + i] - mean(i)) * (X.f32()[n * M + j] - mean(j));
  C /= N - 1;
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(C);
  // R components: MRRR for those vectors alone; 100: all of them, the last 100 kept.
  for (const int64_t cap : {R, int64_t{100}}) {
    const PcaModel p = fit_pca(X, 1.0, cap);
    ASSERT_EQ(p.eigenvalues.size(), size_t(M));
    for (int64_t i = 0; i < M; ++i)
      EXPECT_NEAR(p.eigenvalues[i], std::max(0.0, eig.eigenvalues()(M - 1 - i)), 1e-5 * eig.eigenvalues()(M - 1))
          << "eigenvalue " << i;
    for (int64_t m = 0; m < M; ++m) EXPECT_NEAR(p.mean.f32()[m], mean(m), 1e-5);
    ASSERT_EQ(p.out_features(), cap);
    for (int64_t k = 0; k < R; ++k) {  // the R signal directions are well separated
      double dot = 0;
      for (int64_t m = 0; m < M; ++m) dot += p.components.f32()[m * p.out_features() + k] * eig.eigenvectors()(m, M - 1 - k);
      EXPECT_NEAR(std::fabs(dot), 1.0, 1e-5) << "component " << k << " of " << cap;
    }
    for (int64_t k = 0; k < cap; ++k) {  // unit length
      double norm = 0;
      for (int64_t m = 0; m < M; ++m) norm += std::pow(p.components.f32()[m * cap + k], 2);
      EXPECT_NEAR(norm, 1.0, 1e-5) << "component " << k << " of " << cap;
    }
  }
}

TEST(Pca, Errors) {
  EXPECT_THROW(fit_pca(Tensor::zeros({1, 3})), Error);                      // one sample
  EXPECT_THROW(fit_pca(Tensor::zeros({4})), Error);                         // not 2-D
  EXPECT_THROW(fit_pca(Tensor::zeros({4, 3}, DType::I64)), Error);          // not float
  EXPECT_THROW(fit_pca(Tensor::full({5, 3}, 2.0f), 0.95, 0, "relu2"), Error);  // dead layer
  try {
    fit_pca(Tensor::full({5, 3}, 2.0f), 0.95, 0, "layer 'relu2'");
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("relu2"), std::string::npos) << e.what();
  }
  const Tensor X = axes_dataset({5, 3, 1, 0.1}, {0, 0, 0, 0});
  EXPECT_THROW(fit_pca(X, 0.0), Error);
  EXPECT_THROW(fit_pca(X, 1.5), Error);
  const PcaModel p = fit_pca(X, 0.95);
  EXPECT_THROW(pca_project(p, Tensor::zeros({2, 5})), Error);  // wrong width
  EXPECT_THROW(pca_from_tensors(Tensor::zeros({4}), Tensor::zeros({5, 2}), "k.wmk"), Error);
  const PcaModel back = pca_from_tensors(p.mean, p.components, "k.wmk");
  EXPECT_EQ(pca_project(back, X).to_vector(), pca_project(p, X).to_vector());
}
