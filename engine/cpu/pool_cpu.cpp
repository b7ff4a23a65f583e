// CPU kernels for pooling. The references test every window position against the input
// bounds; the fast paths clamp each window once and run the (n, c) planes in parallel.
#include <algorithm>
#include <cstdint>
#include <cmath>
#include <limits>

#include "engine/cpu/gemm_blocked.h"  // SIGNET_HAVE_AVX512_GEMM
#include "engine/ops/dispatch.h"
#include "engine/ops/pool.h"

namespace signet::cpu {

// ---------------------------------------------------------------- references
void max_pool2d_ref(const Pool2dGeom& g, const float* x, float* y, int64_t* idx) {
  for (int64_t pl = 0; pl < g.N * g.C; ++pl) {
    const float* xp = x + pl * g.H * g.W;
    for (int64_t i = 0; i < g.Ho; ++i)
      for (int64_t j = 0; j < g.Wo; ++j) {
        float best = -std::numeric_limits<float>::infinity();
        int64_t where = -1;
        for (int64_t a = 0; a < g.k; ++a)
          for (int64_t b = 0; b < g.k; ++b) {
            const int64_t ih = i * g.s - g.p + a, iw = j * g.s - g.p + b;
            if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;  // padding is -inf
            const float v = xp[ih * g.W + iw];
            if (where < 0) where = ih * g.W + iw;  // first real element, if all are -inf
            if (v > best || std::isnan(v)) {       // strict: the first maximum wins ties
              best = v;
              where = ih * g.W + iw;
            }
          }
        y[(pl * g.Ho + i) * g.Wo + j] = best;
        idx[(pl * g.Ho + i) * g.Wo + j] = where;
      }
  }
}

void max_pool2d_backward_ref(const Pool2dGeom& g, const float* dy, const int64_t* idx, float* dx) {
  std::fill(dx, dx + g.N * g.C * g.H * g.W, 0.0f);
  for (int64_t pl = 0; pl < g.N * g.C; ++pl)
    for (int64_t o = 0; o < g.Ho * g.Wo; ++o) dx[pl * g.H * g.W + idx[pl * g.Ho * g.Wo + o]] += dy[pl * g.Ho * g.Wo + o];
}

void avg_pool2d_ref(const Pool2dGeom& g, const float* x, float* y) {
  for (int64_t pl = 0; pl < g.N * g.C; ++pl)
    for (int64_t i = 0; i < g.Ho; ++i)
      for (int64_t j = 0; j < g.Wo; ++j) {
        double acc = 0;
        for (int64_t a = 0; a < g.k; ++a)
          for (int64_t b = 0; b < g.k; ++b) {
            const int64_t ih = i * g.s - g.p + a, iw = j * g.s - g.p + b;
            if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;  // padding adds 0
            acc += x[(pl * g.H + ih) * g.W + iw];
          }
        y[(pl * g.Ho + i) * g.Wo + j] = static_cast<float>(acc / (g.k * g.k));  // count_include_pad
      }
}

void avg_pool2d_backward_ref(const Pool2dGeom& g, const float* dy, float* dx) {
  std::fill(dx, dx + g.N * g.C * g.H * g.W, 0.0f);
  for (int64_t pl = 0; pl < g.N * g.C; ++pl)
    for (int64_t i = 0; i < g.Ho; ++i)
      for (int64_t j = 0; j < g.Wo; ++j) {
        const float d = dy[(pl * g.Ho + i) * g.Wo + j] / static_cast<float>(g.k * g.k);
        for (int64_t a = 0; a < g.k; ++a)
          for (int64_t b = 0; b < g.k; ++b) {
            const int64_t ih = i * g.s - g.p + a, iw = j * g.s - g.p + b;
            if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
            dx[(pl * g.H + ih) * g.W + iw] += d;
          }
      }
}

void global_avg_pool_ref(const float* x, float* y, int64_t planes, int64_t hw) {
  for (int64_t pl = 0; pl < planes; ++pl) {
    double acc = 0;
    for (int64_t i = 0; i < hw; ++i) acc += x[pl * hw + i];
    y[pl] = static_cast<float>(acc / hw);
  }
}

// ---------------------------------------------------------------- fast paths
namespace {
struct Window {
  int64_t h0, h1, w0, w1;  // clamped to the input: rows [h0, h1), columns [w0, w1)
};
inline Window window(const Pool2dGeom& g, int64_t i, int64_t j) {
  const int64_t h = i * g.s - g.p, w = j * g.s - g.p;
  return {std::max<int64_t>(h, 0), std::min(h + g.k, g.H), std::max<int64_t>(w, 0), std::min(w + g.k, g.W)};
}
inline bool par(const Pool2dGeom& g) { return g.N * g.C * g.H * g.W >= kParallelGrain && g.N * g.C > 1; }

// One NaN-free plane. Each window is clamped to the input; a full K x K window (K > 0 known at
// compile time) is unrolled. The running maximum is a vmaxss and the index update a mask blend:
// any compare-and-branch (the NaN test v != v, or an if-converted select the compiler turns
// back into a jump) mispredicts half the time on real data. Planes holding a NaN go to the
// reference loop instead.
inline void take_if_larger(float v, int64_t at, float& best, int64_t& where) {
  const int64_t m = -static_cast<int64_t>(v > best);
  where = (at & m) | (where & ~m);
  best = v > best ? v : best;
}

template <int K>
void max_plane(const Pool2dGeom& geom, const float* xp, float* yp, int64_t* ip) {
  // Locals: the stores through yp / ip could otherwise alias the geometry and force reloads.
  const int64_t H = geom.H, W = geom.W, Ho = geom.Ho, Wo = geom.Wo, k = geom.k, s = geom.s, p = geom.p;
  if (K > 0 && p == 0) {  // no padding: every window is a full K x K block, no clamping
    for (int64_t i = 0; i < Ho; ++i)
      for (int64_t j = 0; j < Wo; ++j) {
        const int64_t at0 = i * s * W + j * s;
        float best = -std::numeric_limits<float>::infinity();
        int64_t where = at0;
        for (int64_t a = 0; a < K; ++a)
          for (int64_t b = 0; b < K; ++b) take_if_larger(xp[at0 + a * W + b], at0 + a * W + b, best, where);
        yp[i * Wo + j] = best;
        ip[i * Wo + j] = where;
      }
    return;
  }
  for (int64_t i = 0; i < Ho; ++i) {
    const int64_t h0 = std::max<int64_t>(i * s - p, 0), h1 = std::min(i * s - p + k, H);
    for (int64_t j = 0; j < Wo; ++j) {
      const int64_t w0 = std::max<int64_t>(j * s - p, 0), w1 = std::min(j * s - p + k, W);
      float best = -std::numeric_limits<float>::infinity();
      int64_t where = h0 * W + w0;
      if (K > 0 && h1 - h0 == K && w1 - w0 == K) {
        for (int64_t a = 0; a < K; ++a)
          for (int64_t b = 0; b < K; ++b) take_if_larger(xp[(h0 + a) * W + w0 + b], (h0 + a) * W + w0 + b, best, where);
      } else {
        for (int64_t ih = h0; ih < h1; ++ih)
          for (int64_t iw = w0; iw < w1; ++iw) take_if_larger(xp[ih * W + iw], ih * W + iw, best, where);
      }
      yp[i * Wo + j] = best;
      ip[i * Wo + j] = where;
    }
  }
}
#if SIGNET_HAVE_AVX512_GEMM
// The 2x2 stride-2 unpadded window (the CNN's pools) 16 outputs at a time: the even and odd
// floats of two input rows are a window's four candidates; the index is the window's corner
// plus 0, 1, W or W + 1. Taken in the reference's order, strictly larger wins.
void max_plane_2x2(const Pool2dGeom& g, const float* xp, float* yp, int64_t* ip) {
  const int64_t W = g.W, Wo = g.Wo;
  const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  const __m512i lane2 = _mm512_slli_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), 1);
  for (int64_t i = 0; i < g.Ho; ++i) {
    const float* r0 = xp + 2 * i * W;
    const float* r1 = r0 + W;
    int64_t j = 0;
    for (; j + 16 <= Wo; j += 16) {
      const __m512 a0 = _mm512_loadu_ps(r0 + 2 * j), a1 = _mm512_loadu_ps(r0 + 2 * j + 16);
      const __m512 b0 = _mm512_loadu_ps(r1 + 2 * j), b1 = _mm512_loadu_ps(r1 + 2 * j + 16);
      const __m512 cand[4] = {_mm512_permutex2var_ps(a0, even, a1), _mm512_permutex2var_ps(a0, odd, a1),
                              _mm512_permutex2var_ps(b0, even, b1), _mm512_permutex2var_ps(b0, odd, b1)};
      const int32_t step[4] = {0, 1, static_cast<int32_t>(W), static_cast<int32_t>(W + 1)};
      __m512 best = cand[0];
      __m512i where = _mm512_setzero_si512();
      for (int q = 1; q < 4; ++q) {
        const __mmask16 larger = _mm512_cmp_ps_mask(cand[q], best, _CMP_GT_OQ);
        best = _mm512_mask_mov_ps(best, larger, cand[q]);
        where = _mm512_mask_mov_epi32(where, larger, _mm512_set1_epi32(step[q]));
      }
      _mm512_storeu_ps(yp + i * Wo + j, best);
      // corner 2i W + 2 (j + lane), as int64 (offsets within one plane fit 32 bits)
      const __m512i at = _mm512_add_epi32(_mm512_add_epi32(where, lane2), _mm512_set1_epi32(static_cast<int32_t>(2 * i * W + 2 * j)));
      _mm512_storeu_si512(ip + i * Wo + j, _mm512_cvtepi32_epi64(_mm512_castsi512_si256(at)));
      _mm512_storeu_si512(ip + i * Wo + j + 8, _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(at, 1)));
    }
    for (; j < Wo; ++j) {
      const int64_t at0 = 2 * i * W + 2 * j;
      float best = -std::numeric_limits<float>::infinity();
      int64_t where = at0;
      for (int64_t a = 0; a < 2; ++a)
        for (int64_t b = 0; b < 2; ++b) take_if_larger(xp[at0 + a * W + b], at0 + a * W + b, best, where);
      yp[i * Wo + j] = best;
      ip[i * Wo + j] = where;
    }
  }
}

// The 3x3 stride-2 window with padding 1 (resnet50's stem pool) 16 outputs at a time: of the
// 32 floats of a row from column 2j, the even ones are the windows' centre columns, the odd
// ones their right columns and, one lane later, their left columns (lane 0's left is the
// float before, or padding). Candidates in the reference's order, strictly larger wins; the
// outputs whose window reaches past the vectors' last full load take the clamped scalar loop.
void max_plane_3x3s2p1(const Pool2dGeom& g, const float* xp, float* yp, int64_t* ip) {
  const int64_t W = g.W, H = g.H, Wo = g.Wo;
  const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  const __m512i lane2 = _mm512_slli_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), 1);
  const float neg_inf = -std::numeric_limits<float>::infinity();
  const int64_t j_vec = std::min(Wo, W / 2) / 16 * 16;  // outputs whose 32 floats from 2j lie in the row
  for (int64_t i = 0; i < g.Ho; ++i) {
    const int64_t h0 = std::max<int64_t>(2 * i - 1, 0), h1 = std::min(2 * i + 2, H);
    for (int64_t j = 0; j < j_vec; j += 16) {
      __m512 best = _mm512_setzero_ps();
      __m512i where = _mm512_setzero_si512();
      for (int64_t h = h0; h < h1; ++h) {
        const float* r = xp + h * W + 2 * j;
        const __m512 a0 = _mm512_loadu_ps(r), a1 = _mm512_loadu_ps(r + 16);
        const __m512 centre = _mm512_permutex2var_ps(a0, even, a1), right = _mm512_permutex2var_ps(a0, odd, a1);
        const __m512 left = _mm512_castsi512_ps(_mm512_alignr_epi32(
            _mm512_castps_si512(right), _mm512_castps_si512(_mm512_set1_ps(j > 0 ? r[-1] : neg_inf)), 15));
        const __m512 cand[3] = {left, centre, right};
        const __m512i at = _mm512_add_epi32(lane2, _mm512_set1_epi32(static_cast<int32_t>(h * W + 2 * j)));
        for (int b = 0; b < 3; ++b) {
          const __m512i at_b = _mm512_add_epi32(at, _mm512_set1_epi32(b - 1));
          if (h == h0 && b == 0) {  // the first candidate; lane 0 of the first vector has no left column
            best = cand[0];
            where = j > 0 ? at_b : _mm512_mask_mov_epi32(at_b, 1, at);
            continue;
          }
          const __mmask16 larger = _mm512_cmp_ps_mask(cand[b], best, _CMP_GT_OQ);
          best = _mm512_mask_mov_ps(best, larger, cand[b]);
          where = _mm512_mask_mov_epi32(where, larger, at_b);
        }
      }
      _mm512_storeu_ps(yp + i * Wo + j, best);
      _mm512_storeu_si512(ip + i * Wo + j, _mm512_cvtepi32_epi64(_mm512_castsi512_si256(where)));
      _mm512_storeu_si512(ip + i * Wo + j + 8, _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(where, 1)));
    }
    for (int64_t j = j_vec; j < Wo; ++j) {
      const int64_t w0 = std::max<int64_t>(2 * j - 1, 0), w1 = std::min(2 * j + 2, W);
      float best = neg_inf;
      int64_t where = h0 * W + w0;
      for (int64_t h = h0; h < h1; ++h)
        for (int64_t w = w0; w < w1; ++w) take_if_larger(xp[h * W + w], h * W + w, best, where);
      yp[i * Wo + j] = best;
      ip[i * Wo + j] = where;
    }
  }
}

// Its backward without a zero fill and scatter: each output's window is written whole (dy at
// the index, zeros elsewhere), 16 windows as two 32-float row runs; rows and columns no window
// covers (odd H or W) are zeroed.
void max_back_2x2(const Pool2dGeom& g, const float* gp, const int64_t* ip, float* dp) {
  const int64_t W = g.W, H = g.H, Wo = g.Wo, Ho = g.Ho;
  const __m512i lo_idx = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  const __m512i hi_idx = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
  const __m512i lane2 = _mm512_slli_epi64(_mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0), 1);
  for (int64_t i = 0; i < Ho; ++i) {
    float* r0 = dp + 2 * i * W;
    float* r1 = r0 + W;
    int64_t j = 0;
    for (; j + 16 <= Wo; j += 16) {
      const __m512 gv = _mm512_loadu_ps(gp + i * Wo + j);
      __mmask16 m[4];  // window position 0, 1, W, W + 1 of each output
      const int64_t step[4] = {0, 1, W, W + 1};
      const __m512i c0 = _mm512_add_epi64(lane2, _mm512_set1_epi64(2 * i * W + 2 * j));
      const __m512i c1 = _mm512_add_epi64(c0, _mm512_set1_epi64(16));
      const __m512i rel0 = _mm512_sub_epi64(_mm512_loadu_si512(ip + i * Wo + j), c0);
      const __m512i rel1 = _mm512_sub_epi64(_mm512_loadu_si512(ip + i * Wo + j + 8), c1);
      for (int q = 0; q < 4; ++q) {
        const __m512i sq = _mm512_set1_epi64(step[q]);
        m[q] = static_cast<__mmask16>(_mm512_cmpeq_epi64_mask(rel0, sq) |
                                      (static_cast<unsigned>(_mm512_cmpeq_epi64_mask(rel1, sq)) << 8));
      }
      const __m512 v[4] = {_mm512_maskz_mov_ps(m[0], gv), _mm512_maskz_mov_ps(m[1], gv),
                           _mm512_maskz_mov_ps(m[2], gv), _mm512_maskz_mov_ps(m[3], gv)};
      _mm512_storeu_ps(r0 + 2 * j, _mm512_permutex2var_ps(v[0], lo_idx, v[1]));
      _mm512_storeu_ps(r0 + 2 * j + 16, _mm512_permutex2var_ps(v[0], hi_idx, v[1]));
      _mm512_storeu_ps(r1 + 2 * j, _mm512_permutex2var_ps(v[2], lo_idx, v[3]));
      _mm512_storeu_ps(r1 + 2 * j + 16, _mm512_permutex2var_ps(v[2], hi_idx, v[3]));
    }
    for (; j < Wo; ++j) {
      const int64_t at0 = 2 * i * W + 2 * j, hit = ip[i * Wo + j];
      const float d = gp[i * Wo + j];
      r0[2 * j] = hit == at0 ? d : 0.0f;
      r0[2 * j + 1] = hit == at0 + 1 ? d : 0.0f;
      r1[2 * j] = hit == at0 + W ? d : 0.0f;
      r1[2 * j + 1] = hit == at0 + W + 1 ? d : 0.0f;
    }
    std::fill(r0 + 2 * Wo, r0 + W, 0.0f);
    std::fill(r1 + 2 * Wo, r1 + W, 0.0f);
  }
  std::fill(dp + 2 * Ho * W, dp + H * W, 0.0f);
}
#endif

inline bool is_2x2(const Pool2dGeom& g) { return SIGNET_HAVE_AVX512_GEMM && g.k == 2 && g.s == 2 && g.p == 0; }
inline bool is_3x3s2p1(const Pool2dGeom& g) { return SIGNET_HAVE_AVX512_GEMM && g.k == 3 && g.s == 2 && g.p == 1; }
}  // namespace

void max_pool2d_fast(const Pool2dGeom& g, const float* x, float* y, int64_t* idx) {
  const int64_t hw = g.H * g.W, ohw = g.Ho * g.Wo;
#pragma omp parallel for if (par(g)) schedule(static)
  for (int64_t pl = 0; pl < g.N * g.C; ++pl) {
    const float* xp = x + pl * hw;
    int nan = 0;
#pragma omp simd reduction(| : nan)
    for (int64_t i = 0; i < hw; ++i) nan |= xp[i] != xp[i];
    if (nan) {  // the reference loop, on this plane alone
      Pool2dGeom one = g;
      one.N = one.C = 1;
      max_pool2d_ref(one, xp, y + pl * ohw, idx + pl * ohw);
    } else if (is_2x2(g)) {
#if SIGNET_HAVE_AVX512_GEMM
      max_plane_2x2(g, xp, y + pl * ohw, idx + pl * ohw);
#endif
    } else if (is_3x3s2p1(g)) {
#if SIGNET_HAVE_AVX512_GEMM
      max_plane_3x3s2p1(g, xp, y + pl * ohw, idx + pl * ohw);
#endif
    } else if (g.k == 2) {
      max_plane<2>(g, xp, y + pl * ohw, idx + pl * ohw);
    } else if (g.k == 3) {
      max_plane<3>(g, xp, y + pl * ohw, idx + pl * ohw);
    } else {
      max_plane<0>(g, xp, y + pl * ohw, idx + pl * ohw);
    }
  }
}

void max_pool2d_backward_fast(const Pool2dGeom& g, const float* dy, const int64_t* idx, float* dx) {
  const int64_t hw = g.H * g.W, ohw = g.Ho * g.Wo;
#pragma omp parallel for if (par(g)) schedule(static)
  for (int64_t pl = 0; pl < g.N * g.C; ++pl) {
    float* dp = dx + pl * hw;
    const float* gp = dy + pl * ohw;
    const int64_t* ip = idx + pl * ohw;
#if SIGNET_HAVE_AVX512_GEMM
    if (is_2x2(g)) {
      max_back_2x2(g, gp, ip, dp);
      continue;
    }
#endif
    std::fill(dp, dp + hw, 0.0f);
    for (int64_t o = 0; o < ohw; ++o) dp[ip[o]] += gp[o];
  }
}

void max_pool2d_gather_fast(const Pool2dGeom& g, const float* x, const int64_t* idx, float* y) {
  const int64_t hw = g.H * g.W, ohw = g.Ho * g.Wo;
#pragma omp parallel for if (par(g)) schedule(static)
  for (int64_t pl = 0; pl < g.N * g.C; ++pl)
    for (int64_t o = 0; o < ohw; ++o) y[pl * ohw + o] = x[pl * hw + idx[pl * ohw + o]];
}

void avg_pool2d_fast(const Pool2dGeom& g, const float* x, float* y) {
  const float inv = 1.0f / static_cast<float>(g.k * g.k);
#pragma omp parallel for if (par(g)) schedule(static)
  for (int64_t pl = 0; pl < g.N * g.C; ++pl) {
    const float* xp = x + pl * g.H * g.W;
    float* yp = y + pl * g.Ho * g.Wo;
    for (int64_t i = 0; i < g.Ho; ++i)
      for (int64_t j = 0; j < g.Wo; ++j) {
        const Window wd = window(g, i, j);
        float acc = 0;
        for (int64_t ih = wd.h0; ih < wd.h1; ++ih)
          for (int64_t iw = wd.w0; iw < wd.w1; ++iw) acc += xp[ih * g.W + iw];
        yp[i * g.Wo + j] = acc * inv;
      }
  }
}

void avg_pool2d_backward_fast(const Pool2dGeom& g, const float* dy, float* dx) {
  const float inv = 1.0f / static_cast<float>(g.k * g.k);
#pragma omp parallel for if (par(g)) schedule(static)
  for (int64_t pl = 0; pl < g.N * g.C; ++pl) {
    float* dp = dx + pl * g.H * g.W;
    std::fill(dp, dp + g.H * g.W, 0.0f);
    const float* gp = dy + pl * g.Ho * g.Wo;
    for (int64_t i = 0; i < g.Ho; ++i)
      for (int64_t j = 0; j < g.Wo; ++j) {
        const Window wd = window(g, i, j);
        const float d = gp[i * g.Wo + j] * inv;
        for (int64_t ih = wd.h0; ih < wd.h1; ++ih)
          for (int64_t iw = wd.w0; iw < wd.w1; ++iw) dp[ih * g.W + iw] += d;
      }
  }
}

void global_avg_pool_fast(const float* x, float* y, int64_t planes, int64_t hw) {
  const float inv = 1.0f / static_cast<float>(hw);
#pragma omp parallel for if (planes * hw >= kParallelGrain && planes > 1) schedule(static)
  for (int64_t pl = 0; pl < planes; ++pl) {
    const float* xp = x + pl * hw;
    float acc = 0;
#pragma omp simd reduction(+ : acc)
    for (int64_t i = 0; i < hw; ++i) acc += xp[i];
    y[pl] = acc * inv;
  }
}

}  // namespace signet::cpu
