#include "watermark/deepsigns/pca.h"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>

#include "engine/autograd.h"
#include "engine/ops/matmul.h"

namespace signet {

Tensor PcaModel::weight() const { return components.transpose_view(0, 1).contiguous(); }

Tensor PcaModel::bias() const {
  const int64_t M = in_features(), P = out_features();
  Tensor b = Tensor::zeros({P});
  const float* mu = mean.f32();
  const float* W = components.f32();
  for (int64_t p = 0; p < P; ++p) {
    double acc = 0;
    for (int64_t m = 0; m < M; ++m) acc += static_cast<double>(mu[m]) * W[m * P + p];
    b.f32()[p] = static_cast<float>(-acc);
  }
  return b;
}

PcaModel fit_pca(const Tensor& X_in, double explained, int64_t max_components, const std::string& what) {
  SIGNET_CHECK(X_in.defined() && X_in.dim() == 2 && X_in.dtype() == DType::F32,
               "fit_pca: {} must be a float32 [samples, features] matrix, got {}", what,
               X_in.defined() ? X_in.str() : "an undefined tensor");
  SIGNET_CHECK(explained > 0 && explained <= 1, "the explained variance for PCA must be in (0, 1], got {}", explained);
  SIGNET_CHECK(max_components >= 0, "the PCA component cap must be >= 0, got {}", max_components);
  const Tensor X = X_in.contiguous();
  const int64_t N = X.size(0), M = X.size(1);
  SIGNET_CHECK(N >= 2 && M >= 1, "fit_pca: {} has {} samples of {} features; PCA needs at least 2 samples", what, N, M);
  const float* x = X.f32();

  std::vector<double> mean(M, 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t m = 0; m < M; ++m) mean[m] += x[n * M + m];
  for (double& v : mean) v /= static_cast<double>(N);

  // Scatter matrix of the centred rows, one GEMM per chunk (float), summed in double.
  Eigen::MatrixXd S = Eigen::MatrixXd::Zero(M, M);
  const int64_t chunk = 4096;
  std::vector<float> xc(std::min(N, chunk) * M), part(M * M);
  for (int64_t r0 = 0; r0 < N; r0 += chunk) {
    const int64_t rows = std::min(chunk, N - r0);
    for (int64_t n = 0; n < rows; ++n)
      for (int64_t m = 0; m < M; ++m)
        xc[n * M + m] = static_cast<float>(x[(r0 + n) * M + m] - mean[m]);
    cpu::gemm_fast(true, false, M, M, rows, 1.0f, xc.data(), M, xc.data(), M, 0.0f, part.data(), M);
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < M; ++j) S(i, j) += part[i * M + j];
  }
  S = (S + S.transpose()) * (0.5 / static_cast<double>(N - 1));
  const double total = S.trace();
  SIGNET_CHECK(total > 0 && std::isfinite(total),
               "fit_pca: {} have zero (or non-finite) total variance: every one of the {} features is constant "
               "over the {} samples (a dead layer?); choose another --layer",
               what, M, N);

  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(S);
  SIGNET_CHECK(eig.info() == Eigen::Success, "fit_pca: the eigendecomposition of the {} covariance did not converge", what);
  // Eigen sorts ascending; we want descending.
  PcaModel out;
  out.eigenvalues.resize(M);
  for (int64_t i = 0; i < M; ++i) out.eigenvalues[i] = std::max(0.0, eig.eigenvalues()(M - 1 - i));
  int64_t P = 0;
  double kept = 0;
  while (P < M && kept < explained * total * (1 - 1e-12)) kept += out.eigenvalues[P++];
  P = std::max<int64_t>(P, 1);
  if (max_components > 0) P = std::min(P, max_components);
  kept = 0;
  for (int64_t i = 0; i < P; ++i) kept += out.eigenvalues[i];
  out.explained = kept / total;

  out.mean = Tensor::empty({M});
  for (int64_t m = 0; m < M; ++m) out.mean.f32()[m] = static_cast<float>(mean[m]);
  out.components = Tensor::empty({M, P});
  for (int64_t p = 0; p < P; ++p) {
    const Eigen::VectorXd v = eig.eigenvectors().col(M - 1 - p);
    Eigen::Index big = 0;
    v.cwiseAbs().maxCoeff(&big);
    const double sign = v(big) < 0 ? -1.0 : 1.0;
    for (int64_t m = 0; m < M; ++m) out.components.f32()[m * P + p] = static_cast<float>(sign * v(m));
  }
  return out;
}

PcaModel pca_from_tensors(const Tensor& mean, const Tensor& components, const std::string& source) {
  SIGNET_CHECK(mean.dim() == 1 && components.dim() == 2 && components.size(0) == mean.size(0) &&
                   mean.dtype() == DType::F32 && components.dtype() == DType::F32 && components.size(1) >= 1,
               "{}: PCA mean {} and components {} do not fit together (want [M] and [M, P])", source,
               shape_str(mean.shape()), shape_str(components.shape()));
  PcaModel p;
  p.mean = mean.contiguous();
  p.components = components.contiguous();
  return p;
}

Tensor pca_project(const PcaModel& pca, const Tensor& X) {
  SIGNET_CHECK(X.dim() == 2 && X.dtype() == DType::F32 && X.size(1) == pca.in_features(),
               "pca_project: activations {} do not match the PCA's {} input features (were the keys made for "
               "another layer or model?)",
               X.str(), pca.in_features());
  NoGradGuard ng;
  return linear(X, pca.weight(), pca.bias());
}

}  // namespace signet
