#include "watermark/deepsigns/pca.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include <omp.h>

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

namespace {
// LAPACK's symmetric eigensolver (MRRR), from the OpenBLAS the engine links. The trailing
// arguments are the Fortran lengths of the three one-character options.
extern "C" void dsyevr_(const char* jobz, const char* range, const char* uplo, const int* n, double* a,
                        const int* lda, const double* vl, const double* vu, const int* il, const int* iu,
                        const double* abstol, int* m, double* w, double* z, const int* ldz, int* isuppz,
                        double* work, const int* lwork, int* iwork, const int* liwork, int* info, size_t, size_t,
                        size_t);

constexpr int64_t kChunkRows = 2048;  // rows centred and multiplied at a time (per thread)
constexpr int64_t kBlock = 256;       // the scatter matrix is built in kBlock x kBlock tiles

// Column means of X [N, M], summed in double, rows split over the threads.
std::vector<double> column_means(const float* x, int64_t N, int64_t M) {
  std::vector<double> mean(M, 0.0);
#pragma omp parallel if (N * M > (1 << 16))
  {
    std::vector<double> part(M, 0.0);
#pragma omp for schedule(static) nowait
    for (int64_t n = 0; n < N; ++n)
      for (int64_t m = 0; m < M; ++m) part[m] += x[n * M + m];
#pragma omp critical
    for (int64_t m = 0; m < M; ++m) mean[m] += part[m];
  }
  for (double& v : mean) v /= static_cast<double>(N);
  return mean;
}

// S = (X - mean)^T (X - mean) [M, M] in double. Each thread centres chunks of rows and adds the
// tiles on and above the diagonal of their float product (a symmetric matrix needs only those:
// 3 of 4 tiles at M = 512); the lower triangle is mirrored at the end.
std::vector<double> scatter_matrix(const float* x, int64_t N, int64_t M, const std::vector<double>& mean) {
  std::vector<double> S(M * M, 0.0);
  const int64_t chunks = (N + kChunkRows - 1) / kChunkRows;
#pragma omp parallel if (chunks > 1)
  {
    std::vector<double> mine(M * M, 0.0);
    std::vector<float> xc(std::min(N, kChunkRows) * M), tile(kBlock * kBlock);
#pragma omp for schedule(dynamic) nowait
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t r0 = c * kChunkRows, rows = std::min(kChunkRows, N - r0);
      for (int64_t n = 0; n < rows; ++n)
        for (int64_t m = 0; m < M; ++m) xc[n * M + m] = static_cast<float>(x[(r0 + n) * M + m] - mean[m]);
      for (int64_t i0 = 0; i0 < M; i0 += kBlock)
        for (int64_t j0 = i0; j0 < M; j0 += kBlock) {
          const int64_t bi = std::min(kBlock, M - i0), bj = std::min(kBlock, M - j0);
          cpu::gemm_fast(true, false, bi, bj, rows, 1.0f, xc.data() + i0, M, xc.data() + j0, M, 0.0f, tile.data(), bj);
          for (int64_t i = 0; i < bi; ++i)
            for (int64_t j = 0; j < bj; ++j) mine[(i0 + i) * M + j0 + j] += tile[i * bj + j];
        }
    }
#pragma omp critical
    for (int64_t i = 0; i < M * M; ++i) S[i] += mine[i];
  }
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < i; ++j) S[i * M + j] = S[j * M + i];
  return S;
}

// All eigenvalues (ascending) and eigenvectors (column k of the column-major [M, M] vectors
// belongs to eigenvalue k) of the symmetric C [M, M], which is overwritten.
bool symmetric_eigen(std::vector<double>& C, int64_t M, std::vector<double>& values, std::vector<double>& vectors) {
  const int n = static_cast<int>(M);
  int found = 0, info = 0;
  const double unused = 0, abstol = 0;  // abstol 0: LAPACK's default accuracy
  const int iunused = 0;
  values.assign(M, 0.0);
  vectors.assign(M * M, 0.0);
  std::vector<int> support(2 * M);
  // lwork = liwork = -1 asks for the workspace sizes only (into work[0] and iwork[0]).
  auto call = [&](double* work, int lwork, int* iwork, int liwork) {
    dsyevr_("V", "A", "U", &n, C.data(), &n, &unused, &unused, &iunused, &iunused, &abstol, &found, values.data(),
            vectors.data(), &n, support.data(), work, &lwork, iwork, &liwork, &info, 1, 1, 1);
    return info == 0;
  };
  // One thread: the solver is a long chain of small BLAS calls, each a barrier for the pool. On
  // two threads it is no faster, and several times slower when the pool's threads sleep
  // between calls (OMP_WAIT_POLICY=passive). OpenBLAS sizes its calls by omp_get_max_threads.
  struct OneThread {
    int saved = omp_get_max_threads();
    OneThread() { omp_set_num_threads(1); }
    ~OneThread() { omp_set_num_threads(saved); }
  } one_thread;
  double work_size = 0;
  int iwork_size = 0;
  if (!call(&work_size, -1, &iwork_size, -1)) return false;
  std::vector<double> work(static_cast<size_t>(work_size));
  std::vector<int> iwork(iwork_size);
  return call(work.data(), static_cast<int>(work.size()), iwork.data(), iwork_size) && found == n;
}
}  // namespace

PcaModel fit_pca(const Tensor& X_in, double explained, int64_t max_components, const std::string& what) {
  SIGNET_CHECK(X_in.defined() && X_in.dim() == 2 && X_in.dtype() == DType::F32,
               "fit_pca: {} must be a float32 [samples, features] matrix, got {}", what,
               X_in.defined() ? X_in.str() : "an undefined tensor");
  SIGNET_CHECK(explained > 0 && explained <= 1, "the explained variance for PCA must be in (0, 1], got {}", explained);
  SIGNET_CHECK(max_components >= 0, "the PCA component cap must be >= 0, got {}", max_components);
  const Tensor X = X_in.contiguous();
  const int64_t N = X.size(0), M = X.size(1);
  SIGNET_CHECK(N >= 2 && M >= 1, "fit_pca: {} has {} samples of {} features; PCA needs at least 2 samples", what, N, M);
  const std::vector<double> mean = column_means(X.f32(), N, M);
  std::vector<double> C = scatter_matrix(X.f32(), N, M, mean);
  double total = 0;
  for (double& v : C) v /= static_cast<double>(N - 1);
  for (int64_t i = 0; i < M; ++i) total += C[i * M + i];
  SIGNET_CHECK(total > 0 && std::isfinite(total),
               "fit_pca: {} have zero (or non-finite) total variance: every one of the {} features is constant "
               "over the {} samples (a dead layer?); choose another --layer",
               what, M, N);

  std::vector<double> values, vectors;
  SIGNET_CHECK(symmetric_eigen(C, M, values, vectors),
               "fit_pca: the eigendecomposition of the {} covariance did not converge", what);
  // LAPACK sorts ascending; we want descending.
  PcaModel out;
  out.eigenvalues.resize(M);
  for (int64_t i = 0; i < M; ++i) out.eigenvalues[i] = std::max(0.0, values[M - 1 - i]);
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
    const double* v = vectors.data() + (M - 1 - p) * M;
    int64_t big = 0;
    for (int64_t m = 1; m < M; ++m)
      if (std::fabs(v[m]) > std::fabs(v[big])) big = m;
    const double sign = v[big] < 0 ? -1.0 : 1.0;
    for (int64_t m = 0; m < M; ++m) out.components.f32()[m * P + p] = static_cast<float>(sign * v[m]);
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
