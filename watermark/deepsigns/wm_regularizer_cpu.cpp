#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "engine/ops/matmul.h"
#include "watermark/deepsigns/wm_regularizer.h"

namespace signet::cpu {

namespace {
// Which rows of mu are chosen, and each chosen class's position in T (-1 if not chosen).
std::vector<int64_t> position_in_T(const std::vector<int64_t>& T, int64_t S) {
  std::vector<int64_t> pos(S, -1);
  for (size_t k = 0; k < T.size(); ++k) pos[T[k]] = static_cast<int64_t>(k);
  return pos;
}

// Zeroes a gradient row with streaming stores where the row is 64-byte aligned: the buffer
// was last written by other ops, often on the other core, and a normal store first fetches
// each line (measured in a 2-thread MLP step: the attraction pass took 29 us instead of 11 us).
inline void zero_row(float* g, int64_t M) {
#if defined(__AVX512F__)
  if (reinterpret_cast<uintptr_t>(g) % 64 == 0) {
    int64_t m = 0;
    for (; m + 16 <= M; m += 16) _mm512_stream_ps(g + m, _mm512_setzero_ps());
    std::fill(g + m, g + M, 0.0f);
    return;
  }
#endif
  std::fill(g, g + M, 0.0f);
}
inline void stream_fence() {
#if defined(__AVX512F__)
  _mm_sfence();
#endif
}

inline double log_sigmoid(double z) { return z >= 0 ? -std::log1p(std::exp(-z)) : z - std::log1p(std::exp(z)); }
}  // namespace

double wm_regularizer_ref(const float* f, const int64_t* y, int64_t B, int64_t M, const float* mu, int64_t S,
                          const std::vector<int64_t>& T, const float* A, int64_t N, const float* b, float l1,
                          float l2, float margin, float* gf, float* gmu, WmRegularizerParts* parts) {
  const auto pos = position_in_T(T, S);
  const int64_t s = static_cast<int64_t>(T.size());
  for (int64_t i = 0; i < B * M; ++i) gf[i] = 0;
  for (int64_t i = 0; i < S * M; ++i) gmu[i] = 0;
  // Attraction: mean over the batch's chosen-class samples of ||f_n - mu_{y_n}||^2.
  int64_t K = 0;
  for (int64_t n = 0; n < B; ++n) K += pos[y[n]] >= 0;
  double attract = 0;
  for (int64_t n = 0; n < B; ++n) {
    if (pos[y[n]] < 0) continue;
    for (int64_t m = 0; m < M; ++m) {
      const double d = static_cast<double>(f[n * M + m]) - mu[y[n] * M + m];
      attract += d * d / K;
      gf[n * M + m] += static_cast<float>(l1 * 2 * d / K);
      gmu[y[n] * M + m] -= static_cast<float>(l1 * 2 * d / K);
    }
  }
  // Separation: mean over (chosen, other) pairs of ||mu_i - mu_j||^2, subtracted.
  double separate = 0;
  const int64_t pairs = s * (S - s);
  for (int64_t i : T)
    for (int64_t j = 0; j < S; ++j) {
      if (pos[j] >= 0) continue;
      double d2 = 0;
      for (int64_t m = 0; m < M; ++m) {
        const double d = static_cast<double>(mu[i * M + m]) - mu[j * M + m];
        d2 += d * d;
      }
      if (margin > 0 && d2 >= margin) {  // capped: constant, no gradient
        separate += margin / static_cast<double>(pairs);
        continue;
      }
      separate += d2 / pairs;
      for (int64_t m = 0; m < M; ++m) {
        const double d = static_cast<double>(mu[i * M + m]) - mu[j * M + m];
        gmu[i * M + m] -= static_cast<float>(l1 * 2 * d / pairs);
        gmu[j * M + m] += static_cast<float>(l1 * 2 * d / pairs);
      }
    }
  // Signature: binary cross-entropy of sigmoid(mu_T A) against b, summed.
  double bce = 0;
  for (int64_t k = 0; k < s; ++k)
    for (int64_t j = 0; j < N; ++j) {
      double z = 0;
      for (int64_t m = 0; m < M; ++m) z += static_cast<double>(mu[T[k] * M + m]) * A[m * N + j];
      const double bit = b[k * N + j];
      bce -= bit * log_sigmoid(z) + (1 - bit) * log_sigmoid(-z);
      const double dz = 1.0 / (1.0 + std::exp(-z)) - bit;
      for (int64_t m = 0; m < M; ++m) gmu[T[k] * M + m] += static_cast<float>(l2 * dz * A[m * N + j]);
    }
  if (parts) *parts = {attract, separate, bce};
  return l1 * (attract - separate) + l2 * bce;
}

double wm_regularizer_fast(const float* f, const int64_t* y, int64_t B, int64_t M, const float* mu, int64_t S,
                           const std::vector<int64_t>& T, const float* A, int64_t N, const float* b, float l1,
                           float l2, float margin, float* gf, float* gmu, WmRegularizerParts* parts) {
  const auto pos = position_in_T(T, S);
  const int64_t s = static_cast<int64_t>(T.size());
  std::fill(gmu, gmu + S * M, 0.0f);
  int64_t K = 0;
  for (int64_t n = 0; n < B; ++n) K += pos[y[n]] >= 0;
  // Rows of the other classes get zero gradient: most rows when few classes carry bits, and
  // writing them is most of the attraction pass's time, so the whole pool zeroes them first
  // (each thread fences its own streaming stores).
#pragma omp parallel if (B * M >= (1 << 15))
  {
#pragma omp for schedule(static)
    for (int64_t n = 0; n < B; ++n)
      if (pos[y[n]] < 0) zero_row(gf + n * M, M);
    stream_fence();
  }
  // Attraction: one pass over the chosen rows, in order.
  double attract = 0;
  const float ca = K ? 2.0f * l1 / static_cast<float>(K) : 0.0f;
  std::vector<float> gmu_acc(s * M, 0.0f);
  for (int64_t n = 0; n < B; ++n) {
    float* g = gf + n * M;
    const int64_t k = pos[y[n]];
    if (k < 0) continue;
    const float* fn = f + n * M;
    const float* c = mu + y[n] * M;
    float* acc = gmu_acc.data() + k * M;
    float row = 0;
#pragma omp simd reduction(+ : row)
    for (int64_t m = 0; m < M; ++m) {
      const float d = fn[m] - c[m];
      row += d * d;
      g[m] = ca * d;
      acc[m] -= ca * d;
    }
    attract += row;
  }
  if (K) attract /= K;
  // Separation between every chosen centre and every other centre.
  double separate = 0;
  const int64_t pairs = s * (S - s);
  const float cs = pairs ? 2.0f * l1 / static_cast<float>(pairs) : 0.0f;
  for (int64_t k = 0; k < s; ++k) {
    const float* ci = mu + T[k] * M;
    for (int64_t j = 0; j < S; ++j) {
      if (pos[j] >= 0) continue;
      const float* cj = mu + j * M;
      float* gi = gmu_acc.data() + k * M;
      float* gj = gmu + j * M;
      float row = 0;
#pragma omp simd reduction(+ : row)
      for (int64_t m = 0; m < M; ++m) {
        const float d = ci[m] - cj[m];
        row += d * d;
      }
      if (margin > 0 && row >= margin) {  // capped: constant, no gradient
        separate += margin;
        continue;
      }
      separate += row;
#pragma omp simd
      for (int64_t m = 0; m < M; ++m) {
        const float d = ci[m] - cj[m];
        gi[m] -= cs * d;
        gj[m] += cs * d;
      }
    }
  }
  if (pairs) separate /= pairs;
  // Signature: Z = mu_T A (GEMM), loss from Z, then d mu_T += l2 (sigmoid(Z) - b) A^T (GEMM).
  std::vector<float> muT(s * M), Z(s * N), D(s * N);
  for (int64_t k = 0; k < s; ++k) std::copy(mu + T[k] * M, mu + (T[k] + 1) * M, muT.data() + k * M);
  gemm_fast(false, false, s, N, M, 1.0f, muT.data(), M, A, N, 0.0f, Z.data(), N);
  double bce = 0;
  for (int64_t i = 0; i < s * N; ++i) {
    const double z = Z[i], bit = b[i];
    bce -= bit * log_sigmoid(z) + (1 - bit) * log_sigmoid(-z);
    D[i] = static_cast<float>(1.0 / (1.0 + std::exp(-z)) - bit);
  }
  gemm_fast(false, true, s, M, N, l2, D.data(), N, A, N, 1.0f, gmu_acc.data(), M);
  for (int64_t k = 0; k < s; ++k) {
    float* dst = gmu + T[k] * M;
    const float* src = gmu_acc.data() + k * M;
    for (int64_t m = 0; m < M; ++m) dst[m] += src[m];
  }
  if (parts) *parts = {attract, separate, bce};
  return l1 * (attract - separate) + l2 * bce;
}

void track_other_centres(float* mu, int64_t S, int64_t M, const float* f, const int64_t* y, int64_t B,
                         const std::vector<bool>& chosen, bool nonnegative) {
  if (nonnegative)
    for (int64_t i = 0; i < S * M; ++i) mu[i] = std::max(mu[i], 0.0f);
  std::vector<double> acc(S * M, 0.0);
  std::vector<int64_t> cnt(S, 0);
  for (int64_t n = 0; n < B; ++n) {
    const int64_t c = y[n];
    if (chosen[c]) continue;
    ++cnt[c];
    for (int64_t m = 0; m < M; ++m) acc[c * M + m] += f[n * M + m];
  }
  for (int64_t c = 0; c < S; ++c) {
    if (!cnt[c]) continue;
    float* row = mu + c * M;
    for (int64_t m = 0; m < M; ++m) row[m] = 0.9f * row[m] + 0.1f * static_cast<float>(acc[c * M + m] / cnt[c]);
  }
}

int64_t count_in_set(const int64_t* labels, int64_t n, const std::vector<int64_t>& T) {
  int64_t k = 0;
  for (int64_t i = 0; i < n; ++i) k += std::find(T.begin(), T.end(), labels[i]) != T.end();
  return k;
}

}  // namespace signet::cpu
