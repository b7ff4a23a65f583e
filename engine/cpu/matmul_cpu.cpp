// CPU GEMM: the plain-loop reference, Signet's blocked AVX-512 GEMM (gemm_blocked.h) with
// row-major packers for every transpose combination, and OpenBLAS for comparison and for
// builds without AVX-512.
#include <cblas.h>

#include <algorithm>


#include "engine/cpu/gemm_blocked.h"
#include "engine/cpu/gemm_pack.h"
#include "engine/cpu/gemm_tile_kernel.h"
#if SIGNET_HAVE_AVX512_GEMM
#include <immintrin.h>
#endif
#include "engine/ops/matmul.h"

namespace signet::cpu {

void gemm_ref(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
              int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double acc = 0;
      for (int64_t k = 0; k < K; ++k) {
        const float a = ta ? A[k * lda + i] : A[i * lda + k];
        const float b = tb ? B[j * ldb + k] : B[k * ldb + j];
        acc += static_cast<double>(a) * b;
      }
      float& c = C[i * ldc + j];
      c = static_cast<float>(alpha * acc + (beta == 0.0f ? 0.0 : beta * c));
    }
}

void gemm_blas(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
               int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
              static_cast<blasint>(M), static_cast<blasint>(N), static_cast<blasint>(K), alpha, A,
              static_cast<blasint>(lda), B, static_cast<blasint>(ldb), beta, C,
              static_cast<blasint>(ldc));
}

namespace gemm {
template <int MR>
void gemm_rowmajor(int nt, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                   int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  blocked<MR>(
      M, N, K, nt,
      [&](int64_t i0, int64_t k0, int64_t mc, int64_t kc, float* dst) {
        pack_a_rowmajor<MR>(ta, A, lda, i0, k0, mc, kc, dst);
      },
      [&](int64_t j0, int64_t k0, int64_t nc, int64_t kc, float* dst) {
        pack_b_rowmajor(tb, B, ldb, j0, k0, nc, kc, dst);
      },
      [&](int64_t i0, int64_t j0, int mr, int nr, const float* ap, const float* bp, int64_t kc, int64_t k0) {
        const bool first = k0 == 0;
        kernel<MR>(kc, ap, bp, C + i0 * ldc + j0, ldc, alpha, first ? beta : 1.0f, mr, nr);
      });
}

#if SIGNET_HAVE_AVX512_GEMM
// At most NR columns and A not transposed (a projection onto a few directions, a classifier's
// last layer): B is packed once and each MR-row tile of C is summed over the whole k loop in
// registers, reading A's rows where they lie. The blocked path would first copy all of A into
// packed panels, which moves more memory than the product itself when N is this small.
template <int MR>
void gemm_narrow(int nt, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                 const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  float* bp = thread_buffer(0, std::max<int64_t>(K, 1) * NR);
  pack_b_rowmajor(tb, B, ldb, 0, 0, N, K, bp);
  const int64_t tiles = (M + MR - 1) / MR;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t t = 0; t < tiles; ++t) {
    const int64_t i0 = t * MR;
    const int mr = static_cast<int>(std::min<int64_t>(MR, M - i0));
    int64_t aoff[MR];
    for (int r = 0; r < MR; ++r) aoff[r] = (i0 + std::min(r, mr - 1)) * lda;  // rows past M repeat the last
    tile_kernel<MR, true, false>(K, A, aoff, bp, nullptr, C + i0 * ldc, ldc, alpha, beta, mr, static_cast<int>(N));
  }
}

// At most NR rows, neither operand transposed, B [K, N] wide (a linear layer's input gradient
// at a small batch, g W): strips of 16 V columns of B, read row by row in place, times R
// broadcast values of A accumulate in R x V registers; the threads take disjoint column ranges.
// The blocked path would copy all of B into packed panels for a few rows' use each.
constexpr int64_t kStripPrefetch = 16;  // rows ahead
template <int R, int V>
void strip_rows(int64_t K, float alpha, const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
                float* C, int64_t ldc, int64_t j0, int64_t n) {
  __m512 acc[R][V];
  __mmask16 m[V];
  for (int v = 0; v < V; ++v) {
    const int64_t left = n - 16 * v;
    m[v] = static_cast<__mmask16>(left >= 16 ? 0xFFFF : left > 0 ? (1u << left) - 1 : 0);
    for (int r = 0; r < R; ++r) acc[r][v] = _mm512_setzero_ps();
  }
  for (int64_t k = 0; k < K; ++k) {
    // Each row of the strip lies in another page, out of the hardware prefetcher's sight.
    if (k + kStripPrefetch < K)
      for (int v = 0; v < V; ++v)
        _mm_prefetch(reinterpret_cast<const char*>(B + (k + kStripPrefetch) * ldb + j0 + 16 * v), _MM_HINT_T0);
    __m512 b[V];
    for (int v = 0; v < V; ++v) b[v] = _mm512_maskz_loadu_ps(m[v], B + k * ldb + j0 + 16 * v);
    for (int r = 0; r < R; ++r) {
      const __m512 a = _mm512_set1_ps(A[r * lda + k]);
      for (int v = 0; v < V; ++v) acc[r][v] = _mm512_fmadd_ps(a, b[v], acc[r][v]);
    }
  }
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) {
      float* c = C + r * ldc + j0 + 16 * v;
      __m512 out = _mm512_mul_ps(va, acc[r][v]);
      if (beta != 0.0f) out = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m[v], c), out);
      _mm512_mask_storeu_ps(c, m[v], out);
    }
}

void gemm_few_rows_wide(int nt, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                        const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  constexpr int V = 3;  // 8 rows x 3 vectors in 24 registers
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    const int t = omp_get_thread_num(), T = omp_get_num_threads();
    // Column ranges on 16-float boundaries: no two threads write one cache line of a row.
    const int64_t j_begin = std::min(N, (N * t / T + 15) / 16 * 16);
    const int64_t j_end = t + 1 == T ? N : std::min(N, (N * (t + 1) / T + 15) / 16 * 16);
    for (int64_t j0 = j_begin; j0 < j_end; j0 += 16 * V) {
      const int64_t n = std::min<int64_t>(16 * V, j_end - j0);
      for (int64_t i = 0; i < M;) {
        const int64_t left = M - i;
        const float* a = A + i * lda;
        float* c = C + i * ldc;
        if (left >= 8) {
          strip_rows<8, V>(K, alpha, a, lda, B, ldb, beta, c, ldc, j0, n), i += 8;
        } else if (left >= 4) {
          strip_rows<4, V>(K, alpha, a, lda, B, ldb, beta, c, ldc, j0, n), i += 4;
        } else if (left >= 2) {
          strip_rows<2, V>(K, alpha, a, lda, B, ldb, beta, c, ldc, j0, n), i += 2;
        } else {
          strip_rows<1, V>(K, alpha, a, lda, B, ldb, beta, c, ldc, j0, n), i += 1;
        }
      }
    }
  }
}
#endif
}  // namespace gemm

namespace {
// A product with a handful of rows (a vector-matrix product, e.g. the DeepSigns regularizer's
// [1, 512] x [512, 32] and [1, 32] x [32, 512]): row by row, 16 outputs at a time kept in a
// register over the whole k loop. The blocked path pads the rows to a tile of 8 and packs B
// for a single use; plain loops kept c in memory (a store per k) and summed dot products
// lane by lane. Measured on the regularizer's forward + backward (bench_wm_regularizer.cpp):
// 10.8 us blocked, 10.2 us plain loops, 7.8 us this way.
void gemm_few_rows(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                   const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i) {
    float* c = C + i * ldc;
    auto a_at = [&](int64_t k) { return ta ? A[k * lda + i] : A[i * lda + k]; };
    auto finish = [&](int64_t j, float acc) { c[j] = alpha * acc + (beta == 0.0f ? 0.0f : beta * c[j]); };
#if SIGNET_HAVE_AVX512_GEMM
    if (!tb) {
      for (int64_t j0 = 0; j0 < N; j0 += 16) {
        const __mmask16 m = static_cast<__mmask16>(N - j0 >= 16 ? 0xFFFF : (1u << (N - j0)) - 1);
        __m512 acc = _mm512_setzero_ps();
        for (int64_t k = 0; k < K; ++k)
          acc = _mm512_fmadd_ps(_mm512_set1_ps(a_at(k)), _mm512_maskz_loadu_ps(m, B + k * ldb + j0), acc);
        __m512 v = _mm512_mul_ps(_mm512_set1_ps(alpha), acc);
        if (beta != 0.0f) v = _mm512_fmadd_ps(_mm512_set1_ps(beta), _mm512_maskz_loadu_ps(m, c + j0), v);
        _mm512_mask_storeu_ps(c + j0, m, v);
      }
      continue;
    }
    if (!ta) {
      const float* a = A + i * lda;
      for (int64_t j = 0; j < N; ++j) {
        const float* b = B + j * ldb;
        __m512 acc = _mm512_setzero_ps();
        for (int64_t k = 0; k < K; k += 16) {
          const __mmask16 m = static_cast<__mmask16>(K - k >= 16 ? 0xFFFF : (1u << (K - k)) - 1);
          acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + k), _mm512_maskz_loadu_ps(m, b + k), acc);
        }
        finish(j, _mm512_reduce_add_ps(acc));
      }
      continue;
    }
#endif
    for (int64_t j = 0; j < N; ++j) {
      float acc = 0.0f;
      for (int64_t k = 0; k < K; ++k) acc += a_at(k) * (tb ? B[j * ldb + k] : B[k * ldb + j]);
      finish(j, acc);
    }
  }
}
}  // namespace

void gemm_fast(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
               int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (M <= 2) return gemm_few_rows(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#if SIGNET_HAVE_AVX512_GEMM
  const int nt = gemm::threads_for(M, N, K);
  if (!ta && N <= gemm::NR && K <= gemm::kNarrowKMax)
    return gemm::gemm_narrow<12>(nt, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  // The few-row paths below pay off when the wide operand B is read from memory: one that fits
  // in L2 (an LSTM's recurrent weights, multiplied every time step) packs cheaply, and the
  // blocked kernel then runs faster than the strips.
  const bool wide_b = N * K >= gemm::kFewRowsMinWide;
  if (!ta && !tb && M <= gemm::NR && N > gemm::NR && wide_b) {
    // Bound by reading B (at least 1 MiB here), not by multiply-adds: always both threads.
    const int nt_b = omp_in_parallel() ? 1 : omp_get_max_threads();
    return gemm::gemm_few_rows_wide(nt_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  }
  if (!ta && tb && M <= gemm::NR && K <= gemm::kNarrowKMax && wide_b) {
    // A few rows against B stored [N, K] (a linear layer's forward at a small batch): C^T = B A^T
    // is a narrow product reading B's rows in place, where the blocked path would first copy
    // all of B into transposed panels. C^T lands in a buffer and is turned back into C.
    float* ct = gemm::thread_buffer(1, N * M);
    gemm::gemm_narrow<12>(nt, true, N, M, K, 1.0f, B, ldb, A, lda, 0.0f, ct, M);
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j)
        C[i * ldc + j] = alpha * ct[j * M + i] + (beta == 0.0f ? 0.0f : beta * C[i * ldc + j]);
    return;
  }
  if (gemm::choose_mr(M, nt) == 12)
    gemm::gemm_rowmajor<12>(nt, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  else
    gemm::gemm_rowmajor<8>(nt, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#else
  gemm_blas(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#endif
}

void fill_rows(float* out, int64_t rows, int64_t cols, const float* row) {
  for (int64_t r = 0; r < rows; ++r) std::copy_n(row, cols, out + r * cols);
}

}  // namespace signet::cpu
