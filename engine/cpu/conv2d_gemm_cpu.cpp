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
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cstdint>
#include <vector>

#include "engine/ops/conv2d.h"
#include "engine/cpu/conv2d_direct.h"
#include "engine/cpu/conv2d_threads.h"
#include "engine/cpu/conv2d_narrow.h"
#include "engine/cpu/conv2d_tiny.h"
#include "engine/cpu/conv2d_winograd.h"
#include "engine/cpu/gemm_blocked.h"
#include "engine/cpu/conv2d_im2col_pack.h"
#include "engine/cpu/gemm_pack.h"
#include "engine/cpu/gemm_tile_kernel.h"
#include "engine/ops/matmul.h"

namespace signet::cpu {
namespace {

using gemm::NR;
using namespace conv_pack;
using namespace conv_split;

// ---------------------------------------------------------------- the three products
// y = W X (+ bias) for `count` images. With few columns the kernel broadcasts W straight
// from its rows instead of packing it: each packed weight would serve only 2 x columns FLOPs
// (measured: resnet50's 512-channel 2x2 layer, 32 columns per thread, 37% of the roof with
// W packed, 59% in place; its 4x4 layer 60% and 71%).
constexpr int64_t kWeightsInPlaceCols = 256;

// trans_w: w is stored [K, O] (a 1x1 kernel's input gradient, dx = W^T dy, packed by plain
// copies; never in place).
template <int MR>
void forward_gemm(const Conv2dGeom& g, const KRow* table, const float* x, const float* w, const float* bias,
                  float* y, int64_t count, int nt, bool trans_w = false) {
  const Cols cs(g, table);
  const int64_t K = g.C * g.kh * g.kw, P = cs.P, O = g.O;
  if (bias)
    for (int64_t i = 0; i < count; ++i)
      for (int64_t o = 0; o < O; ++o) std::fill(y + (i * O + o) * P, y + (i * O + o + 1) * P, bias[o]);
#if SIGNET_HAVE_AVX512_GEMM
  const bool w_in_place = !trans_w && count * P <= kWeightsInPlaceCols;
#else
  const bool w_in_place = false;
#endif
  auto run_tile = [&](int64_t i0, int mr, int nr, const float* ap, const float* bp, int64_t kc, int64_t k0,
                      float* c, int64_t ldc, float beta) {
#if SIGNET_HAVE_AVX512_GEMM
    if (w_in_place) {
      int64_t aoff[MR];
      for (int r = 0; r < MR; ++r) aoff[r] = (i0 + std::min(r, mr - 1)) * K + k0;
      return gemm::tile_kernel<MR, true, false>(kc, w, aoff, bp, nullptr, c, ldc, 1.0f, beta, mr, nr);
    }
#endif
    gemm::kernel<MR>(kc, ap, bp, c, ldc, 1.0f, beta, mr, nr);
  };
  gemm::blocked<MR>(
      O, count * P, K, nt,
      [&](int64_t i0, int64_t k0, int64_t mc, int64_t kc, float* dst) {
        if (!w_in_place) gemm::pack_a_rowmajor<MR>(trans_w, w, trans_w ? O : K, i0, k0, mc, kc, dst);
      },
      [&](int64_t j0, int64_t k0, int64_t nc, int64_t kc, float* dst) { pack_x_b(cs, x, j0, k0, nc, kc, dst); },
      [&](int64_t i0, int64_t j0, int mr, int nr, const float* ap, const float* bp, int64_t kc, int64_t k0) {
        const float beta = k0 == 0 && !bias ? 0.0f : 1.0f;
        const int64_t img = j0 / P, p = j0 % P;
        if (p + nr <= P) {  // the tile lies in one image: store in place
          return run_tile(i0, mr, nr, ap, bp, kc, k0, y + (img * O + i0) * P + p, P, beta);
        }
        alignas(64) float t[MR * NR];
        run_tile(i0, mr, nr, ap, bp, kc, k0, t, NR, 0.0f);
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
  // The tile's runs of columns inside one output row, decoded once for all its rows.
  struct Run {
    int64_t img, i, j, len, off;
  } runs[NR];
  int nrun = 0;
  cs.for_each_run(j0, nr, [&](int64_t img, int64_t i, int64_t j, int64_t len, int64_t off) {
    runs[nrun++] = {img, i, j, len, off};
  });
  for (int r = 0; r < mr; ++r) {
    const KRow& kr = cs.rows[i0 + r];
    for (int q = 0; q < nrun; ++q) {
      const Run& run = runs[q];
      const int64_t ih = run.i * g.sh - g.ph + kr.a;
      if (ih < 0 || ih >= g.H) continue;
      const int64_t lo = std::clamp(kr.j0, run.j, run.j + run.len), hi = std::clamp(kr.j1, lo, run.j + run.len);
      float* dst = dx + run.img * cs.in_sz + kr.c_off + ih * g.W - g.pw + kr.b;
      const float* s = t + r * NR + run.off - run.j;  // s[jj] is output column jj
      if (g.sw == 1) {
#pragma omp simd
        for (int64_t jj = lo; jj < hi; ++jj) dst[jj] += s[jj];
        continue;
      }
#if SIGNET_HAVE_AVX512_GEMM
      if (g.sw == 2) {  // 16 columns at a time onto the even floats of a 32-float window
        const __m512i spread_lo = _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
        const __m512i spread_hi = _mm512_set_epi32(15, 15, 14, 14, 13, 13, 12, 12, 11, 11, 10, 10, 9, 9, 8, 8);
        for (int64_t jj = lo; jj < hi; jj += 16) {
          const uint32_t m = hi - jj >= 16 ? 0xFFFFu : (1u << (hi - jj)) - 1;
          const __m512 v = _mm512_maskz_loadu_ps(static_cast<__mmask16>(m), s + jj);
          const __mmask16 m_lo = static_cast<__mmask16>(_pdep_u32(m & 0xFFu, 0x5555u));
          const __mmask16 m_hi = static_cast<__mmask16>(_pdep_u32(m >> 8, 0x5555u));
          float* d = dst + 2 * jj;
          _mm512_mask_storeu_ps(d, m_lo, _mm512_add_ps(_mm512_maskz_loadu_ps(m_lo, d), _mm512_permutexvar_ps(spread_lo, v)));
          _mm512_mask_storeu_ps(d + 16, m_hi,
                                _mm512_add_ps(_mm512_maskz_loadu_ps(m_hi, d + 16), _mm512_permutexvar_ps(spread_hi, v)));
        }
        continue;
      }
#endif
      for (int64_t jj = lo; jj < hi; ++jj) dst[jj * g.sw] += s[jj];
    }
  }
}

// Single-threaded: tiles of different rows fold onto overlapping pixels.
// Rows [c0*kh*kw, c1*kh*kw) of dX (input channels c0..c1-1) for `count` images; writes only
// those channels of dx, so threads may take disjoint channel ranges.
template <int MR>
void input_gemm(const Conv2dGeom& g, const KRow* table, const float* dy, const float* w, float* dx,
                int64_t count, int64_t c0, int64_t c1) {
  const Cols cs(g, table);
  const int64_t K = g.C * g.kh * g.kw, P = cs.P, kk = g.kh * g.kw, m0 = c0 * kk;
  for (int64_t n = 0; n < count; ++n)
    std::fill(dx + n * cs.in_sz + c0 * g.H * g.W, dx + n * cs.in_sz + c1 * g.H * g.W, 0.0f);
  gemm::blocked<MR>(
      (c1 - c0) * kk, count * P, g.O, 1,
      [&](int64_t i0, int64_t k0, int64_t mc, int64_t kc, float* dst) {
        gemm::pack_a_rowmajor<MR>(true, w, K, m0 + i0, k0, mc, kc, dst);
      },
      [&](int64_t j0, int64_t k0, int64_t nc, int64_t kc, float* dst) { pack_dy_b(cs, dy, j0, k0, nc, kc, dst); },
      [&](int64_t i0, int64_t j0, int mr, int nr, const float* ap, const float* bp, int64_t kc, int64_t) {
        alignas(64) float t[MR * NR];
        gemm::kernel<MR>(kc, ap, bp, t, NR, 1.0f, 0.0f, mr, nr);
        fold_tile<MR>(cs, t, m0 + i0, j0, mr, nr, dx);
      });
}

template <int MR>
void weight_gemm(const Conv2dGeom& g, const KRow* table, const float* dy, const float* x, float* dw,
                 int64_t count, int nt) {
  const Cols cs(g, table);
  const int64_t K = g.C * g.kh * g.kw, red = count * cs.P;
  gemm::blocked<MR>(
      g.O, K, red, nt,
      [&](int64_t i0, int64_t k0, int64_t mc, int64_t kc, float* dst) {
        pack_dy_a<MR>(cs, dy, i0, k0, mc, kc, dst);
      },
      [&](int64_t j0, int64_t k0, int64_t nc, int64_t kc, float* dst) { pack_xt_b(cs, x, K, j0, k0, nc, kc, dst); },
      [&](int64_t i0, int64_t j0, int mr, int nr, const float* ap, const float* bp, int64_t kc, int64_t k0) {
        const bool first = k0 == 0;
#if SIGNET_HAVE_AVX512_GEMM
        // One k-block (a short reduction: few columns): dw's tile is final as it leaves the
        // kernel, and nothing reads it before the optimizer step, so it is streamed past the
        // caches instead of first being fetched for ownership.
        if (first && kc == red && nr == NR && K % 16 == 0 && reinterpret_cast<uintptr_t>(dw) % 64 == 0) {
          alignas(64) float t[MR * NR];
          gemm::kernel<MR>(kc, ap, bp, t, NR, 1.0f, 0.0f, mr, nr);
          for (int r = 0; r < mr; ++r) {
            float* d = dw + (i0 + r) * K + j0;
            _mm512_stream_ps(d, _mm512_load_ps(t + r * NR));
            _mm512_stream_ps(d + 16, _mm512_load_ps(t + r * NR + 16));
          }
          return;
        }
#endif
        gemm::kernel<MR>(kc, ap, bp, dw + i0 * K + j0, K, 1.0f, first ? 0.0f : 1.0f, mr, nr);
      });
#if SIGNET_HAVE_AVX512_GEMM
  _mm_sfence();  // the streamed stores are ordered before whatever reads dw next
#endif
}

// w'[c, o, a, b] = w[o, c, kh-1-a, kw-1-b]: the kernel whose forward convolution of dy is the
// input gradient of a stride-1 layer. In a per-thread buffer. Written row by row of w' (for 1x1
// a register transpose): the loop over o inside c, one float at a time, cost resnet50's
// 256->1024 1x1 layer 1.6 ms for 262k weights (4 KiB-strided stores).
const float* flipped_weights(const Conv2dGeom& g, const float* w) {
  thread_local std::vector<float> wt;
  const int64_t kk = g.kh * g.kw;
  wt.resize(std::max<int64_t>(g.O * g.C * kk, 1));
#if SIGNET_HAVE_AVX512_GEMM
  if (kk == 1) {
    for (int64_t o = 0; o < g.O; o += 16) {
      const int rows = static_cast<int>(std::min<int64_t>(16, g.O - o));
      gemm::transpose_block(w + o * g.C, g.C, rows, g.C, wt.data() + o, g.O, rows);
    }
    return wt.data();
  }
#endif
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t o = 0; o < g.O; ++o) {
      const float* src = w + (o * g.C + c) * kk;
      float* dst = wt.data() + (c * g.O + o) * kk;
      for (int64_t e = 0; e < kk; ++e) dst[kk - 1 - e] = src[e];
    }
  return wt.data();
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
  if (conv2d_narrow_forward_applies(g)) return conv2d_narrow_forward(g, x, w, bias, y);
  if (conv2d_tiny_applies(g)) return conv2d_tiny_forward(g, x, w, bias, y);
  if (conv2d_winograd_applies(g)) return conv2d_winograd(g, x, w, bias, y);
  if (conv2d_direct_applies(g)) return conv2d_direct(g, x, w, bias, y);
  const int T = threads(g);
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
  if (conv2d_narrow_applies(g)) return conv2d_narrow_backward_input(g, dy, w, dx);
  if (conv2d_tiny_backward_input_applies(g)) return conv2d_tiny_backward_input(g, dy, w, dx);
  const int64_t in_sz = g.C * g.H * g.W, out_sz = g.O * g.Ho * g.Wo;
  if (g.kh == 1 && g.kw == 1 && g.ph == 0 && g.pw == 0) {
    // A 1x1 kernel: dx is W^T dy (at every sh-th row and sw-th column, zero elsewhere), a
    // pointwise product with W^T packed by plain copies and the threads splitting its rows,
    // written into dx or, strided, into a buffer that is then spread out. Measured on
    // resnet50's 4x4 layers (ms, folding / flipped kernel / this): 256->1024 2.0 / 0.70 / 0.40,
    // 1024->512 1.7 / 1.06 / 0.67, 1024->2048 stride 2 1.9 / - / 1.08.
    const Conv2dGeom t{g.N, g.O, g.Ho, g.Wo, g.C, 1, 1, 1, 1, 0, 0, g.Ho, g.Wo};
    const bool strided = g.sh > 1 || g.sw > 1;
    Tensor tmp = Tensor::empty({strided ? std::max<int64_t>(g.N * g.C * g.Ho * g.Wo, 1) : 1});
    const int T = threads(t);
    with_mr(g.C, T, [&](auto mr) {
      constexpr int MR = decltype(mr)::value;
      forward_gemm<MR>(t, krow_table(t), dy, w, nullptr, strided ? tmp.f32() : dx, g.N, T, true);
    });
    if (!strided) return;
    std::fill(dx, dx + g.N * in_sz, 0.0f);
    const float* s = tmp.f32();
    for (int64_t nc = 0; nc < g.N * g.C; ++nc)
      for (int64_t i = 0; i < g.Ho; ++i)
        for (int64_t j = 0; j < g.Wo; ++j)
          dx[nc * g.H * g.W + i * g.sh * g.W + j * g.sw] = s[(nc * g.Ho + i) * g.Wo + j];
    return;
  }
  if (g.sh == 1 && g.sw == 1 && g.ph <= g.kh - 1 && g.pw <= g.kw - 1 && g.N * g.H * g.W >= 256) {
    // Stride 1: dx = conv2d(dy, w') with w'[c, o, a, b] = w[o, c, kh-1-a, kw-1-b] and padding
    // kh-1-ph, kw-1-pw, a forward convolution (direct or packed, no folding). Measured on
    // wrn-16-4's 256-channel 8x8 layer: 60% of the roof folding tiles, 77% this way. Not for
    // tiny images (resnet50's 2x2 at 64x64 input, 64 columns): rearranging the 2.4M weights
    // then costs more than the product (23% of the roof against 28% folding).
    const Conv2dGeom t{g.N, g.O, g.Ho, g.Wo, g.C, g.kh, g.kw, 1, 1, g.kh - 1 - g.ph, g.kw - 1 - g.pw, g.H, g.W};
    if (conv2d_winograd_applies(t)) return conv2d_winograd(t, dy, w, nullptr, dx, /*flipped=*/true);
    return conv2d_fast(t, dy, flipped_weights(g, w), nullptr, dx);
  }
  // Tiles of different rows fold onto overlapping pixels of the same channel, so threads take
  // their own images or, with few columns per image (each thread would pack all of W for a
  // handful of products), their own input channels.
  const int T = threads(g);
  const KRow* table = krow_table(g);
  with_mr(g.C * g.kh * g.kw, 1, [&](auto mr) {
    constexpr int MR = decltype(mr)::value;
    if (by_image(g, T) && g.N / T * g.Ho * g.Wo >= 256) {
      for_each_share(g, T, [&](int64_t n0, int64_t count, int) {
        if (count > 0) input_gemm<MR>(g, table, dy + n0 * out_sz, w, dx + n0 * in_sz, count, 0, g.C);
      });
      return;
    }
#pragma omp parallel num_threads(T) if (T > 1)
    {
      const int t = omp_get_thread_num(), nt = omp_get_num_threads();
      input_gemm<MR>(g, table, dy, w, dx, g.N, g.C * t / nt, g.C * (t + 1) / nt);
    }
  });
}

void conv2d_backward_weight_fast(const Conv2dGeom& g, const float* dy, const float* x, float* dw) {
  if (conv2d_winograd_weight_applies(g)) return conv2d_winograd_weight(g, dy, x, dw);
  if (conv2d_direct_applies(g)) return conv2d_direct_backward_weight(g, dy, x, dw);
  const int T = threads(g);
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
