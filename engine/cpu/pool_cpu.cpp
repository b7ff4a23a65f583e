// CPU kernels for pooling. The references test every window position against the input
// bounds; the fast paths clamp each window once and run the (n, c) planes in parallel.
#include <algorithm>
#include <cmath>
#include <limits>

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
    std::fill(dp, dp + hw, 0.0f);
    const float* gp = dy + pl * ohw;
    const int64_t* ip = idx + pl * ohw;
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
