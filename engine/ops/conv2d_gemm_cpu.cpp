// The fast CPU convolution: implicit-im2col GEMMs on gemm_blocked.h.
//
// The three products of a convolution, with K = C*kh*kw, P = Ho*Wo and a "column" index
// col = image*P + pixel running over a range of images:
//   forward          y[o, col]  = sum_k  W[o, k] X[k, col]      (M = O, N = cols, red = K)
//   backward input   dX[k, col] = sum_o  W[o, k] dy[o, col]     (M = K, N = cols, red = O)
//   backward weight  dW[o, k]   = sum_col dy[o, col] X[k, col]  (M = O, N = K,    red = cols)
// where X[k, col] = x[image, c, i*sh - ph + a, j*sw - pw + b] (k = (c, a, b), pixel = (i, j),
// zero in the padding) is the im2col matrix. It is never stored: the packers read X's
// micro-panels straight from the image, and the input gradient's tiles are folded back onto
// the image (col2im) as they come out of the register kernel. Each thread runs one GEMM over
// its share of the batch; with fewer images than threads, the GEMM's own threads split it.
//
// Measured against the previous im2col + OpenBLAS path in bench/RESULTS.md (bench_conv.cpp).
#include <omp.h>

#include <algorithm>

#include "engine/ops/conv2d.h"
#include "engine/ops/conv2d_direct.h"
#include "engine/ops/gemm_blocked.h"
#include "engine/ops/conv2d_im2col_pack.h"
#include "engine/ops/gemm_pack.h"
#include "engine/ops/matmul.h"

namespace signet::cpu {
namespace {

using gemm::NR;
using namespace conv_pack;

// ---------------------------------------------------------------- the three products
// y = W X (+ bias). trans_w: w is stored [K, O] (a 1x1 kernel's input gradient: dx = W^T dy).
template <int MR>
void forward_gemm(const Conv2dGeom& g, const KRow* table, const float* x, const float* w, const float* bias,
                  float* y, int64_t count, int nt, bool trans_w = false) {
  const Cols cs(g, table);
  const int64_t K = g.C * g.kh * g.kw, P = cs.P, O = g.O;
  if (bias)
    for (int64_t i = 0; i < count; ++i)
      for (int64_t o = 0; o < O; ++o) std::fill(y + (i * O + o) * P, y + (i * O + o + 1) * P, bias[o]);
  gemm::blocked<MR>(
      O, count * P, K, nt,
      [&](int64_t i0, int64_t k0, int64_t mc, int64_t kc, float* dst) {
        gemm::pack_a_rowmajor<MR>(trans_w, w, trans_w ? O : K, i0, k0, mc, kc, dst);
      },
      [&](int64_t j0, int64_t k0, int64_t nc, int64_t kc, float* dst) { pack_x_b(cs, x, j0, k0, nc, kc, dst); },
      [&](int64_t i0, int64_t j0, int mr, int nr, const float* ap, const float* bp, int64_t kc, bool first) {
        const float beta = first && !bias ? 0.0f : 1.0f;
        const int64_t img = j0 / P, p = j0 % P;
        if (p + nr <= P) {  // the tile lies in one image: store in place
          gemm::kernel<MR>(kc, ap, bp, y + (img * O + i0) * P + p, P, 1.0f, beta, mr, nr);
          return;
        }
        alignas(64) float t[MR * NR];
        gemm::kernel<MR>(kc, ap, bp, t, NR, 1.0f, 0.0f, mr, nr);
        cs.for_each_image_run(j0, nr, [&](int64_t im, int64_t px, int64_t len, int64_t off) {
          for (int r = 0; r < mr; ++r) {
            float* d = y + (im * O + i0 + r) * P + px;
            const float* s = t + r * NR + off;
            if (beta == 0.0f) {  // y may hold anything (NaN) before the first k-block
              std::copy(s, s + len, d);
            } else {
              for (int64_t l = 0; l < len; ++l) d[l] += s[l];
            }
          }
        });
      });
}

// Adds the MR x NR tile t (rows i0.. of dX, columns j0..) onto the images dx (col2im).
template <int MR>
void fold_tile(const Cols& cs, const float* t, int64_t i0, int64_t j0, int mr, int nr, float* dx) {
  const Conv2dGeom& g = cs.g;
  for (int r = 0; r < mr; ++r) {
    const KRow& kr = cs.rows[i0 + r];
    const float* tr = t + r * NR;
    int64_t done = 0;
    while (done < nr) {  // runs of columns inside one output row
      const int64_t col = j0 + done, img = col / cs.P, px = col % cs.P, i = px / g.Wo, j = px % g.Wo;
      const int64_t len = std::min<int64_t>(nr - done, g.Wo - j);
      const int64_t ih = i * g.sh - g.ph + kr.a;
      if (ih >= 0 && ih < g.H) {
        const int64_t lo = std::clamp(kr.j0, j, j + len), hi = std::clamp(kr.j1, lo, j + len);
        float* dst = dx + img * cs.in_sz + kr.c_off + ih * g.W - g.pw + kr.b;
        const float* s = tr + done - j;  // s[jj] is output column jj
        if (g.sw == 1) {
#pragma omp simd
          for (int64_t jj = lo; jj < hi; ++jj) dst[jj] += s[jj];
        } else {
          for (int64_t jj = lo; jj < hi; ++jj) dst[jj * g.sw] += s[jj];
        }
      }
      done += len;
    }
  }
}

// Single-threaded: tiles of different rows fold onto overlapping pixels.
template <int MR>
void input_gemm(const Conv2dGeom& g, const KRow* table, const float* dy, const float* w, float* dx,
                int64_t count) {
  const Cols cs(g, table);
  const int64_t K = g.C * g.kh * g.kw, P = cs.P;
  std::fill(dx, dx + count * cs.in_sz, 0.0f);
  gemm::blocked<MR>(
      K, count * P, g.O, 1,
      [&](int64_t i0, int64_t k0, int64_t mc, int64_t kc, float* dst) {
        gemm::pack_a_rowmajor<MR>(true, w, K, i0, k0, mc, kc, dst);
      },
      [&](int64_t j0, int64_t k0, int64_t nc, int64_t kc, float* dst) { pack_dy_b(cs, dy, j0, k0, nc, kc, dst); },
      [&](int64_t i0, int64_t j0, int mr, int nr, const float* ap, const float* bp, int64_t kc, bool) {
        alignas(64) float t[MR * NR];
        gemm::kernel<MR>(kc, ap, bp, t, NR, 1.0f, 0.0f, mr, nr);
        fold_tile<MR>(cs, t, i0, j0, mr, nr, dx);
      });
}

template <int MR>
void weight_gemm(const Conv2dGeom& g, const KRow* table, const float* dy, const float* x, float* dw,
                 int64_t count, int nt) {
  const Cols cs(g, table);
  const int64_t K = g.C * g.kh * g.kw;
  gemm::blocked<MR>(
      g.O, K, count * cs.P, nt,
      [&](int64_t i0, int64_t k0, int64_t mc, int64_t kc, float* dst) {
        pack_dy_a<MR>(cs, dy, i0, k0, mc, kc, dst);
      },
      [&](int64_t j0, int64_t k0, int64_t nc, int64_t kc, float* dst) { pack_xt_b(cs, x, K, j0, k0, nc, kc, dst); },
      [&](int64_t i0, int64_t j0, int mr, int nr, const float* ap, const float* bp, int64_t kc, bool first) {
        gemm::kernel<MR>(kc, ap, bp, dw + i0 * K + j0, K, 1.0f, first ? 0.0f : 1.0f, mr, nr);
      });
}

// Threads for a convolution: none inside another parallel region or below ~1 MFLOP.
int conv_threads(const Conv2dGeom& g) {
  if (omp_in_parallel()) return 1;
  const double flops = 2.0 * g.N * g.O * g.Ho * g.Wo * g.C * g.kh * g.kw;
  return flops < 1.0e6 ? 1 : omp_get_max_threads();
}

// Splits the batch over up to T threads: body(n0, count, t). Returns the threads that ran.
template <class Body>
int for_each_share(const Conv2dGeom& g, int T, Body&& body) {
  int team = 1;
#pragma omp parallel num_threads(T) if (T > 1)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    if (t == 0) team = nt;
    const int64_t n0 = g.N * t / nt, n1 = g.N * (t + 1) / nt;
    body(n0, n1 - n0, t);
  }
  return team;
}

template <class Fn>
void with_mr(int64_t M, int threads, Fn&& fn) {
  if (gemm::choose_mr(M, threads) == 12)
    fn(std::integral_constant<int, 12>{});
  else
    fn(std::integral_constant<int, 8>{});
}

// Whole images per thread when the batch divides well; else the GEMM's threads share one.
bool by_image(const Conv2dGeom& g, int T) { return T > 1 && (g.N % T == 0 || g.N >= 4 * T); }

bool is_pointwise(const Conv2dGeom& g) {
  return g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0;
}

template <class Fn>
void forward_split(const Conv2dGeom& g, int T, Fn&& run) {  // run(n0, count, nt)
  if (!by_image(g, T)) return run(0, g.N, T);
  for_each_share(g, T, [&](int64_t n0, int64_t count, int) {
    if (count > 0) run(n0, count, 1);
  });
}
}  // namespace

void conv2d_fast(const Conv2dGeom& g, const float* x, const float* w, const float* bias, float* y) {
  if (conv2d_direct_applies(g)) return conv2d_direct(g, x, w, bias, y);
  const int T = conv_threads(g);
  const int64_t in_sz = g.C * g.H * g.W, out_sz = g.O * g.Ho * g.Wo;
  const KRow* table = krow_table(g);  // read by every thread
  with_mr(g.O, by_image(g, T) ? 1 : T, [&](auto mr) {
    constexpr int MR = decltype(mr)::value;
    forward_split(g, T, [&](int64_t n0, int64_t count, int nt) {
      forward_gemm<MR>(g, table, x + n0 * in_sz, w, bias, y + n0 * out_sz, count, nt);
    });
  });
}

void conv2d_backward_input_fast(const Conv2dGeom& g, const float* dy, const float* w, float* dx) {
  if (conv2d_direct_backward_input_applies(g)) return conv2d_direct_backward_input(g, dy, w, dx);
  const int64_t in_sz = g.C * g.H * g.W, out_sz = g.O * g.Ho * g.Wo;
  if (is_pointwise(g)) {
    // dx [C, P] = W^T dy [O, P] per image: the forward product of dy with W^T, tiles stored in
    // place (no folding).
    const Conv2dGeom t{g.N, g.O, g.Ho, g.Wo, g.C, 1, 1, 1, 1, 0, 0, g.H, g.W};
    const int T = conv_threads(t);
    const KRow* table = krow_table(t);
    with_mr(g.C, by_image(t, T) ? 1 : T, [&](auto mr) {
      constexpr int MR = decltype(mr)::value;
      forward_split(t, T, [&](int64_t n0, int64_t count, int nt) {
        forward_gemm<MR>(t, table, dy + n0 * out_sz, w, nullptr, dx + n0 * in_sz, count, nt, true);
      });
    });
    return;
  }
  // Tiles of different rows fold onto overlapping pixels: one GEMM per thread, own images.
  const int T = std::min<int64_t>(conv_threads(g), std::max<int64_t>(g.N, 1));
  with_mr(g.C * g.kh * g.kw, 1, [&](auto mr) {
    constexpr int MR = decltype(mr)::value;
    for_each_share(g, T, [&](int64_t n0, int64_t count, int) {
      if (count > 0) input_gemm<MR>(g, krow_table(g), dy + n0 * out_sz, w, dx + n0 * in_sz, count);
    });
  });
}

void conv2d_backward_weight_fast(const Conv2dGeom& g, const float* dy, const float* x, float* dw) {
  if (conv2d_direct_applies(g)) return conv2d_direct_backward_weight(g, dy, x, dw);
  const int T = conv_threads(g);
  const int64_t K = g.C * g.kh * g.kw, wsz = g.O * K;
  const int64_t in_sz = g.C * g.H * g.W, out_sz = g.O * g.Ho * g.Wo;
  // Images per thread only when each thread's reduction is long: with resnet50's 2x2 outputs
  // at 64x64 input (8 images x 4 pixels per thread) each thread re-read and re-wrote its own
  // 4 MiB [2048, 512] gradient block for every 32 products.
  const bool split = by_image(g, T) && g.N / T * g.Ho * g.Wo >= 256;
  const KRow* table = krow_table(g);
  with_mr(g.O, split ? 1 : T, [&](auto mr) {
    constexpr int MR = decltype(mr)::value;
    if (!split) return weight_gemm<MR>(g, table, dy, x, dw, g.N, T);
    // Thread 0 writes dw, the others private blocks, added in thread order (deterministic for
    // a fixed thread count).
    Tensor scratch = Tensor::empty({std::max<int64_t>((T - 1) * wsz, 1)});
    const int team = for_each_share(g, T, [&](int64_t n0, int64_t count, int t) {
      float* acc = t == 0 ? dw : scratch.f32() + (t - 1) * wsz;
      weight_gemm<MR>(g, table, dy + n0 * out_sz, x + n0 * in_sz, acc, count, 1);
    });
    for (int t = 1; t < team; ++t) {
      const float* acc = scratch.f32() + (t - 1) * wsz;
#pragma omp simd
      for (int64_t i = 0; i < wsz; ++i) dw[i] += acc[i];
    }
  });
}

}  // namespace signet::cpu
