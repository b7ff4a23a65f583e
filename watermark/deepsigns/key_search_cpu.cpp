// CPU kernels of the density op (contract in key_search.h).
#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/ops/dispatch.h"
#include "engine/ops/matmul.h"
#include "watermark/deepsigns/key_search.h"

namespace signet::cpu {

// Not inlined, so that the reference and the fast path's boundary recheck run the very same
// instructions (no contraction or reordering differences between call sites).
__attribute__((noinline)) double exact_sq_dist(const float* a, const float* b, int64_t P) {
  double s = 0;
  for (int64_t p = 0; p < P; ++p) {
    const double d = static_cast<double>(a[p]) - static_cast<double>(b[p]);
    s += d * d;
  }
  return s;
}

void density_counts_ref(const float* Q, int64_t n, const float* X, int64_t N, int64_t P, float eps, int64_t* counts) {
  const double e2 = static_cast<double>(eps) * static_cast<double>(eps);
  for (int64_t i = 0; i < n; ++i) {
    int64_t c = 0;
    for (int64_t j = 0; j < N; ++j) c += exact_sq_dist(Q + i * P, X + j * P, P) <= e2;
    counts[i] = c;
  }
}

namespace {
std::vector<float> row_sq_norms(const float* A, int64_t rows, int64_t P) {
  std::vector<float> out(rows);
#pragma omp parallel for schedule(static) if (rows * P > kParallelGrain)
  for (int64_t r = 0; r < rows; ++r) {
    double s = 0;
    for (int64_t p = 0; p < P; ++p) s += static_cast<double>(A[r * P + p]) * A[r * P + p];
    out[r] = static_cast<float>(s);
  }
  return out;
}
}  // namespace

void density_counts_fast(const float* Q, int64_t n, const float* X, int64_t N, int64_t P, float eps, int64_t* counts) {
  std::fill(counts, counts + n, int64_t{0});
  if (n == 0 || N == 0) return;
  const double e2 = static_cast<double>(eps) * static_cast<double>(eps);
  const float e2f = static_cast<float>(e2);
  // Rounding bound of the GEMM form, relative to ||a||^2 + ||b||^2 (see key_search.h).
  const float c = static_cast<float>(2.0 * (static_cast<double>(P) + 8.0) * std::ldexp(1.0, -24));
  const float tiny = 1e-30f;
  const std::vector<float> nq = row_sq_norms(Q, n, P), nx = row_sq_norms(X, N, P);
  // Tiles of X: n x TB dot products (about 1.6 MB for n = 400), counted while in cache.
  const int64_t TB = std::max<int64_t>(64, std::min<int64_t>(N, (int64_t{1} << 19) / std::max<int64_t>(n, 1)));
  std::vector<float> tile(n * std::min(TB, N));
  for (int64_t j0 = 0; j0 < N; j0 += TB) {
    const int64_t jb = std::min(TB, N - j0);
    // tile = -2 Q X_blk^T
    gemm_fast(false, true, n, jb, P, -2.0f, Q, P, X + j0 * P, P, 0.0f, tile.data(), jb);
    const float* nxb = nx.data() + j0;
#pragma omp parallel for schedule(static) if (n * jb > kParallelGrain)
    for (int64_t i = 0; i < n; ++i) {
      const float* t = tile.data() + i * jb;
      const float a = nq[i];
      int64_t sure = 0, unsure = 0;
#pragma omp simd reduction(+ : sure, unsure)
      for (int64_t j = 0; j < jb; ++j) {
        const float d = a + nxb[j] + t[j];
        const float tol = c * (a + nxb[j]) + tiny;
        sure += d <= e2f - tol;
        unsure += (d > e2f - tol) & (d <= e2f + tol);
      }
      if (unsure) {  // near the ball's edge: decide with the exact distance
        for (int64_t j = 0; j < jb; ++j) {
          const float d = a + nxb[j] + t[j];
          const float tol = c * (a + nxb[j]) + tiny;
          if (d > e2f - tol && d <= e2f + tol) sure += exact_sq_dist(Q + i * P, X + (j0 + j) * P, P) <= e2;
        }
      }
      counts[i] += sure;
    }
  }
}

}  // namespace signet::cpu
