// CPU kernels for conv2d: the direct loops (reference) and im2col + GEMM (fast).
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "engine/ops/conv2d.h"
#include "engine/ops/matmul.h"

namespace signet::cpu {

// ---------------------------------------------------------------- reference: direct loops
void conv2d_ref(const Conv2dGeom& g, const float* x, const float* w, const float* bias, float* y) {
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t o = 0; o < g.O; ++o)
      for (int64_t i = 0; i < g.Ho; ++i)
        for (int64_t j = 0; j < g.Wo; ++j) {
          double acc = bias ? bias[o] : 0.0;
          for (int64_t c = 0; c < g.C; ++c)
            for (int64_t a = 0; a < g.kh; ++a)
              for (int64_t b = 0; b < g.kw; ++b) {
                const int64_t ih = i * g.sh - g.ph + a, iw = j * g.sw - g.pw + b;
                if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;  // zero padding
                acc += static_cast<double>(x[((n * g.C + c) * g.H + ih) * g.W + iw]) *
                       w[((o * g.C + c) * g.kh + a) * g.kw + b];
              }
          y[((n * g.O + o) * g.Ho + i) * g.Wo + j] = static_cast<float>(acc);
        }
}

// Every product x[ih,iw] * w[a,b] that fed y[i,j] sends dy[i,j] * w[a,b] back to x[ih,iw].
void conv2d_backward_input_ref(const Conv2dGeom& g, const float* dy, const float* w, float* dx) {
  std::fill(dx, dx + g.N * g.C * g.H * g.W, 0.0f);
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t o = 0; o < g.O; ++o)
      for (int64_t i = 0; i < g.Ho; ++i)
        for (int64_t j = 0; j < g.Wo; ++j) {
          const float d = dy[((n * g.O + o) * g.Ho + i) * g.Wo + j];
          for (int64_t c = 0; c < g.C; ++c)
            for (int64_t a = 0; a < g.kh; ++a)
              for (int64_t b = 0; b < g.kw; ++b) {
                const int64_t ih = i * g.sh - g.ph + a, iw = j * g.sw - g.pw + b;
                if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
                dx[((n * g.C + c) * g.H + ih) * g.W + iw] += d * w[((o * g.C + c) * g.kh + a) * g.kw + b];
              }
        }
}

// dw[o,c,a,b] = sum over n, i, j of dy[n,o,i,j] * x[n, c, i*sh - ph + a, j*sw - pw + b].
void conv2d_backward_weight_ref(const Conv2dGeom& g, const float* dy, const float* x, float* dw) {
  for (int64_t o = 0; o < g.O; ++o)
    for (int64_t c = 0; c < g.C; ++c)
      for (int64_t a = 0; a < g.kh; ++a)
        for (int64_t b = 0; b < g.kw; ++b) {
          double acc = 0;
          for (int64_t n = 0; n < g.N; ++n)
            for (int64_t i = 0; i < g.Ho; ++i)
              for (int64_t j = 0; j < g.Wo; ++j) {
                const int64_t ih = i * g.sh - g.ph + a, iw = j * g.sw - g.pw + b;
                if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
                acc += static_cast<double>(dy[((n * g.O + o) * g.Ho + i) * g.Wo + j]) *
                       x[((n * g.C + c) * g.H + ih) * g.W + iw];
              }
          dw[((o * g.C + c) * g.kh + a) * g.kw + b] = static_cast<float>(acc);
        }
}

// ---------------------------------------------------------------- im2col / col2im
namespace {
// Output columns j whose input column j*sw - pw + b lies inside [0, W): [j0, j1).
inline void valid_cols(const Conv2dGeom& g, int64_t b, int64_t& j0, int64_t& j1) {
  const int64_t lo = g.pw - b;  // need j*sw >= lo
  j0 = lo <= 0 ? 0 : (lo + g.sw - 1) / g.sw;
  const int64_t hi = g.W - 1 + g.pw - b;  // need j*sw <= hi
  j1 = hi < 0 ? 0 : std::min(g.Wo, hi / g.sw + 1);
  j0 = std::min(j0, g.Wo);
  j1 = std::max(j1, j0);
}
}  // namespace

void im2col(const Conv2dGeom& g, const float* im, float* col, int64_t ld) {
  const int64_t P = ld > 0 ? ld : g.Ho * g.Wo;
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t a = 0; a < g.kh; ++a)
      for (int64_t b = 0; b < g.kw; ++b) {
        float* dst = col + ((c * g.kh + a) * g.kw + b) * P;
        int64_t j0, j1;
        valid_cols(g, b, j0, j1);
        for (int64_t i = 0; i < g.Ho; ++i) {
          float* d = dst + i * g.Wo;
          const int64_t ih = i * g.sh - g.ph + a;
          if (ih < 0 || ih >= g.H) {
            std::fill(d, d + g.Wo, 0.0f);
            continue;
          }
          const float* src = im + (c * g.H + ih) * g.W - g.pw + b;  // src[j*sw] is column j
          std::fill(d, d + j0, 0.0f);
          if (g.sw == 1) {
            std::memcpy(d + j0, src + j0, (j1 - j0) * sizeof(float));
          } else {
            for (int64_t j = j0; j < j1; ++j) d[j] = src[j * g.sw];
          }
          std::fill(d + j1, d + g.Wo, 0.0f);
        }
      }
}

void col2im(const Conv2dGeom& g, const float* col, float* im, int64_t ld) {
  const int64_t P = ld > 0 ? ld : g.Ho * g.Wo;
  std::fill(im, im + g.C * g.H * g.W, 0.0f);
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t a = 0; a < g.kh; ++a)
      for (int64_t b = 0; b < g.kw; ++b) {
        const float* s = col + ((c * g.kh + a) * g.kw + b) * P;
        int64_t j0, j1;
        valid_cols(g, b, j0, j1);
        for (int64_t i = 0; i < g.Ho; ++i) {
          const int64_t ih = i * g.sh - g.ph + a;
          if (ih < 0 || ih >= g.H) continue;
          float* dst = im + (c * g.H + ih) * g.W - g.pw + b;
          const float* d = s + i * g.Wo;
          if (g.sw == 1) {
#pragma omp simd
            for (int64_t j = j0; j < j1; ++j) dst[j] += d[j];
          } else {
            for (int64_t j = j0; j < j1; ++j) dst[j * g.sw] += d[j];
          }
        }
      }
}

// ---------------------------------------------------------------- fast: im2col + GEMM
namespace {
// A 1x1 kernel with unit stride and no padding: the image [C, H*W] is already its column matrix.
bool is_pointwise(const Conv2dGeom& g) {
  return g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0;
}

// Split the batch over threads (one single-threaded GEMM per image) when there are at least two
// images and enough work to wake the pool; otherwise images run in turn and BLAS threads each GEMM.
bool batch_parallel(const Conv2dGeom& g) {
  const int64_t flops = 2 * g.N * g.O * g.Ho * g.Wo * g.C * g.kh * g.kw;
  return g.N > 1 && omp_get_max_threads() > 1 && flops >= (int64_t{1} << 20);
}

// Calls body(i, scratch) for i in [0, count) (images, or groups of images), each thread with
// its own scratch buffer of `per` floats (none when per == 0).
template <class Body>
void for_each_chunk(const Conv2dGeom& g, int64_t count, int64_t per, Body&& body) {
  const bool par = count > 1 && batch_parallel(g);
  const int nt = par ? omp_get_max_threads() : 1;
  Tensor scratch = Tensor::empty({std::max<int64_t>(per * nt, 1)});
  float* base = scratch.f32();
#pragma omp parallel num_threads(nt) if (par)
  {
    float* mine = base + per * omp_get_thread_num();
#pragma omp for schedule(static)
    for (int64_t i = 0; i < count; ++i) body(i, mine);
  }
}
template <class Body>
void for_each_image(const Conv2dGeom& g, int64_t per, Body&& body) {
  for_each_chunk(g, g.N, per, body);
}

// Images per GEMM: 1 when an image's output has 16 pixels or more, otherwise enough images
// for about kGroupCols columns. Measured single-threaded (bench_conv.cpp, bench/RESULTS.md):
// resnet50's layer4 3x3 conv at 64x64 input (P = 2x2) runs 3-4x faster as one
// [512, 4608] x [4608, 64] GEMM for 16 images than as 16 GEMMs 4 columns wide; at P = 16 the
// two are even and at P = 64 grouping is 30% slower (the group's columns leave the cache).
constexpr int64_t kGroupBelow = 16, kGroupCols = 64;
int64_t group_size(const Conv2dGeom& g) {
  const int64_t P = g.Ho * g.Wo;
  if (g.N < 2 || P == 0 || P >= kGroupBelow) return 1;
  return std::min<int64_t>(g.N, std::max<int64_t>(1, kGroupCols / P));
}

// The images of group gi: [n0, n0 + gn).
struct Group {
  int64_t n0, gn;
};
Group group_at(const Conv2dGeom& g, int64_t G, int64_t gi) { return {gi * G, std::min(G, g.N - gi * G)}; }

// dy [N, O, P] images n0.. -> dst [O, gn*P] (image i in columns i*P..), the GEMM's layout.
void gather_dy(const Conv2dGeom& g, const float* dy, Group grp, float* dst) {
  const int64_t P = g.Ho * g.Wo, L = grp.gn * P;
  for (int64_t i = 0; i < grp.gn; ++i)
    for (int64_t o = 0; o < g.O; ++o)
      std::memcpy(dst + o * L + i * P, dy + ((grp.n0 + i) * g.O + o) * P, P * sizeof(float));
}

void conv2d_grouped(const Conv2dGeom& g, int64_t G, const float* x, const float* w, const float* bias, float* y) {
  const int64_t K = g.C * g.kh * g.kw, P = g.Ho * g.Wo, in_sz = g.C * g.H * g.W;
  const int64_t groups = (g.N + G - 1) / G;
  for_each_chunk(g, groups, (K + g.O) * G * P, [&](int64_t gi, float* col) {
    const Group grp = group_at(g, G, gi);
    const int64_t L = grp.gn * P;
    float* out = col + K * G * P;
    for (int64_t i = 0; i < grp.gn; ++i) im2col(g, x + (grp.n0 + i) * in_sz, col + i * P, L);
    gemm_fast(false, false, g.O, L, K, 1.0f, w, K, col, L, 0.0f, out, L);
    for (int64_t i = 0; i < grp.gn; ++i)
      for (int64_t o = 0; o < g.O; ++o) {
        float* dst = y + ((grp.n0 + i) * g.O + o) * P;
        const float* src = out + o * L + i * P;
        const float b = bias ? bias[o] : 0.0f;
#pragma omp simd
        for (int64_t p = 0; p < P; ++p) dst[p] = src[p] + b;
      }
  });
}

void conv2d_backward_input_grouped(const Conv2dGeom& g, int64_t G, const float* dy, const float* w, float* dx) {
  const int64_t K = g.C * g.kh * g.kw, P = g.Ho * g.Wo, in_sz = g.C * g.H * g.W;
  const int64_t groups = (g.N + G - 1) / G;
  for_each_chunk(g, groups, (K + g.O) * G * P, [&](int64_t gi, float* col) {
    const Group grp = group_at(g, G, gi);
    const int64_t L = grp.gn * P;
    float* dyg = col + K * G * P;
    gather_dy(g, dy, grp, dyg);
    gemm_fast(true, false, K, L, g.O, 1.0f, w, K, dyg, L, 0.0f, col, L);
    for (int64_t i = 0; i < grp.gn; ++i) col2im(g, col + i * P, dx + (grp.n0 + i) * in_sz, L);
  });
}
}  // namespace

void conv2d_fast(const Conv2dGeom& g, const float* x, const float* w, const float* bias, float* y) {
  if (const int64_t G = group_size(g); G > 1) return conv2d_grouped(g, G, x, w, bias, y);
  const int64_t K = g.C * g.kh * g.kw, P = g.Ho * g.Wo, in_sz = g.C * g.H * g.W;
  const bool direct = is_pointwise(g);
  for_each_image(g, direct ? 0 : K * P, [&](int64_t n, float* col) {
    float* yn = y + n * g.O * P;
    if (bias) {
      for (int64_t o = 0; o < g.O; ++o) std::fill(yn + o * P, yn + (o + 1) * P, bias[o]);
    }
    const float* cm = x + n * in_sz;
    if (!direct) {
      im2col(g, cm, col);
      cm = col;
    }
    gemm_fast(false, false, g.O, P, K, 1.0f, w, K, cm, P, bias ? 1.0f : 0.0f, yn, P);
  });
}

void conv2d_backward_input_fast(const Conv2dGeom& g, const float* dy, const float* w, float* dx) {
  if (const int64_t G = group_size(g); G > 1 && g.O > 0) return conv2d_backward_input_grouped(g, G, dy, w, dx);
  const int64_t K = g.C * g.kh * g.kw, P = g.Ho * g.Wo, in_sz = g.C * g.H * g.W;
  const bool direct = is_pointwise(g);
  for_each_image(g, direct ? 0 : K * P, [&](int64_t n, float* col) {
    // dcol [K, P] = W^T [K, O] dy_n [O, P], then fold the columns back onto the image.
    float* dst = direct ? dx + n * in_sz : col;
    if (g.O == 0) {
      std::fill(dst, dst + K * P, 0.0f);
    } else {
      gemm_fast(true, false, K, P, g.O, 1.0f, w, K, dy + n * g.O * P, P, 0.0f, dst, P);
    }
    if (!direct) col2im(g, col, dx + n * in_sz);
  });
}

void conv2d_backward_weight_fast(const Conv2dGeom& g, const float* dy, const float* x, float* dw) {
  const int64_t K = g.C * g.kh * g.kw, P = g.Ho * g.Wo, in_sz = g.C * g.H * g.W;
  const int64_t wsz = g.O * K;
  if (P == 0 || g.N == 0) {
    std::fill(dw, dw + wsz, 0.0f);
    return;
  }
  // dw = sum_n dy_n [O, P] col_n^T [P, K], over groups of G images (group_size) as one GEMM
  // each. Each thread accumulates its groups into a private [O, K] block; the blocks are added
  // at the end in thread order (deterministic for a fixed thread count).
  const int64_t G = group_size(g), groups = (g.N + G - 1) / G;
  const bool direct = G == 1 && is_pointwise(g);
  const bool par = groups > 1 && batch_parallel(g);
  const int nt = par ? omp_get_max_threads() : 1;
  const int64_t colsz = direct ? 0 : K * G * P, dysz = G > 1 ? g.O * G * P : 0;
  const int64_t per = wsz + colsz + dysz;
  Tensor scratch = Tensor::empty({nt * per});
  std::vector<char> used(nt, 0);
#pragma omp parallel num_threads(nt) if (par)
  {
    const int t = omp_get_thread_num();
    float* acc = scratch.f32() + t * per;
    float* col = acc + wsz;
    float* dyg = col + colsz;
#pragma omp for schedule(static)
    for (int64_t gi = 0; gi < groups; ++gi) {
      const Group grp = group_at(g, G, gi);
      const int64_t L = grp.gn * P;
      const float* cm = col;
      const float* dyp = dyg;
      if (G == 1) {
        dyp = dy + grp.n0 * g.O * P;
        if (direct) cm = x + grp.n0 * in_sz;
        else im2col(g, x + grp.n0 * in_sz, col);
      } else {
        for (int64_t i = 0; i < grp.gn; ++i) im2col(g, x + (grp.n0 + i) * in_sz, col + i * P, L);
        gather_dy(g, dy, grp, dyg);
      }
      gemm_fast(false, true, g.O, K, L, 1.0f, dyp, L, cm, L, used[t] ? 1.0f : 0.0f, acc, K);
      used[t] = 1;
    }
  }
  std::fill(dw, dw + wsz, 0.0f);
  for (int t = 0; t < nt; ++t) {
    if (!used[t]) continue;
    const float* acc = scratch.f32() + t * per;
#pragma omp simd
    for (int64_t i = 0; i < wsz; ++i) dw[i] += acc[i];
  }
}

}  // namespace signet::cpu
