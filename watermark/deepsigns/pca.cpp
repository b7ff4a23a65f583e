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
// LAPACK, from the OpenBLAS the engine links: the steps of its symmetric eigensolver (dsyevr),
// called one by one so that only the eigenvectors PCA keeps are computed. The trailing
// arguments are the Fortran lengths of the one-character options.
extern "C" {
void dsytrd_(const char* uplo, const int* n, double* a, const int* lda, double* d, double* e, double* tau,
             double* work, const int* lwork, int* info, size_t);
void dsterf_(const int* n, double* d, double* e, int* info);
void dstemr_(const char* jobz, const char* range, const int* n, double* d, double* e, const double* vl,
             const double* vu, const int* il, const int* iu, int* m, double* w, double* z, const int* ldz,
             const int* nzc, int* isuppz, int* tryrac, double* work, const int* lwork, int* iwork, const int* liwork,
             int* info, size_t, size_t);
void dormtr_(const char* side, const char* uplo, const char* trans, const int* m, const int* n, const double* a,
             const int* lda, const double* tau, double* c, const int* ldc, double* work, const int* lwork, int* info,
             size_t, size_t, size_t);
}

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

// One thread for LAPACK: its solvers are long chains of small BLAS calls, each a barrier for
// the pool. On two threads they are no faster, and several times slower when the pool's
// threads sleep between calls (OMP_WAIT_POLICY=passive). OpenBLAS sizes its calls by
// omp_get_max_threads.
struct OneThread {  // while it lives
  int saved = omp_get_max_threads();
  OneThread() { omp_set_num_threads(1); }
  ~OneThread() { omp_set_num_threads(saved); }
};

// A symmetric matrix reduced to tridiagonal form T = Q^T C Q (dsytrd, upper triangle): the
// reflectors that make Q in `a`, T's diagonal d and off-diagonal e.
struct Tridiagonal {
  int n = 0;
  std::vector<double> a, d, e, tau;
};

bool tridiagonalize(std::vector<double> C, int64_t M, Tridiagonal& t) {
  t.n = static_cast<int>(M);
  t.a = std::move(C);
  t.d.assign(M, 0.0);
  t.e.assign(M, 0.0);  // n - 1 used; dstemr uses the last as workspace
  t.tau.assign(std::max<int64_t>(M, 1), 0.0);
  int info = 0, lwork = -1;
  double size = 0;
  dsytrd_("U", &t.n, t.a.data(), &t.n, t.d.data(), t.e.data(), t.tau.data(), &size, &lwork, &info, 1);
  if (info != 0) return false;
  std::vector<double> work(std::max<size_t>(1, static_cast<size_t>(size)));
  lwork = static_cast<int>(work.size());
  dsytrd_("U", &t.n, t.a.data(), &t.n, t.d.data(), t.e.data(), t.tau.data(), work.data(), &lwork, &info, 1);
  return info == 0;
}

// All eigenvalues, ascending (dsterf: no vectors).
bool eigenvalues(const Tridiagonal& t, std::vector<double>& values) {
  values = t.d;
  std::vector<double> e = t.e;
  int info = 0;
  dsterf_(&t.n, values.data(), e.data(), &info);
  return info == 0;
}

// The eigenvectors of the P largest eigenvalues, column-major [M, P], ascending (column P - 1
// belongs to the largest): T's by MRRR (dstemr), then multiplied by Q (dormtr).
bool leading_eigenvectors(const Tridiagonal& t, int64_t P, std::vector<double>& vectors) {
  const int n = t.n, p = static_cast<int>(P);
  // A few vectors: MRRR for those alone. Many: all of them (MRRR then finds every eigenvalue
  // by dqds, faster than the bisection a subset needs), keeping the last p.
  const bool all = 4 * p > n;
  const int il = all ? 1 : n - p + 1, iu = n, nz = all ? n : p;
  std::vector<double> d = t.d, e = t.e, w(n);
  std::vector<int> support(2 * static_cast<size_t>(nz));
  vectors.assign(static_cast<size_t>(n) * nz, 0.0);
  const double unused = 0;
  int found = 0, tryrac = 1, info = 0, lwork = -1, liwork = -1, iwork_size = 0;
  double work_size = 0;
  dstemr_("V", all ? "A" : "I", &n, d.data(), e.data(), &unused, &unused, &il, &iu, &found, w.data(), vectors.data(),
          &n, &nz, support.data(), &tryrac, &work_size, &lwork, &iwork_size, &liwork, &info, 1, 1);
  if (info != 0) return false;
  std::vector<double> work(static_cast<size_t>(work_size));
  std::vector<int> iwork(iwork_size);
  lwork = static_cast<int>(work.size());
  liwork = iwork_size;
  dstemr_("V", all ? "A" : "I", &n, d.data(), e.data(), &unused, &unused, &il, &iu, &found, w.data(), vectors.data(),
          &n, &nz, support.data(), &tryrac, work.data(), &lwork, iwork.data(), &liwork, &info, 1, 1);
  if (info != 0 || found != nz) return false;
  if (all) vectors.erase(vectors.begin(), vectors.begin() + static_cast<int64_t>(n - p) * n);
  lwork = -1;
  dormtr_("L", "U", "N", &n, &p, t.a.data(), &n, t.tau.data(), vectors.data(), &n, &work_size, &lwork, &info, 1, 1,
          1);
  if (info != 0) return false;
  work.assign(std::max<size_t>(1, static_cast<size_t>(work_size)), 0.0);
  lwork = static_cast<int>(work.size());
  dormtr_("L", "U", "N", &n, &p, t.a.data(), &n, t.tau.data(), vectors.data(), &n, work.data(), &lwork, &info, 1, 1,
          1);
  return info == 0;
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

  const OneThread one_thread;  // for the LAPACK calls below
  Tridiagonal tri;
  std::vector<double> values, vectors;
  SIGNET_CHECK(tridiagonalize(std::move(C), M, tri) && eigenvalues(tri, values),
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
  SIGNET_CHECK(leading_eigenvectors(tri, P, vectors),
               "fit_pca: the eigenvectors of the {} covariance did not converge", what);

  out.mean = Tensor::empty({M});
  for (int64_t m = 0; m < M; ++m) out.mean.f32()[m] = static_cast<float>(mean[m]);
  out.components = Tensor::empty({M, P});
  for (int64_t p = 0; p < P; ++p) {
    const double* v = vectors.data() + (P - 1 - p) * M;
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
