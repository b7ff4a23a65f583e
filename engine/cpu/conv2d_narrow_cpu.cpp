// Convolutions with at most NR output pixels in all (conv2d_narrow.h).
//
// Forward, with at most kForwardMaxPixels pixels: y[o][p] = bias[o] + sum_k W[o][k] xcol[p][k],
// xcol the transposed im2col matrix (P x K, a few pixels' patches). R rows of W against all P
// rows of xcol, 16 k at a time: R + P loads feed R x P fused multiply-adds, each weight loaded
// once; the sums are reduced across lanes at the end of the row.
//
// Input gradient: with K = C kh kw and P = N Ho Wo pixels, the columns of the im2col matrix get
//   dcol[p][k] = sum_o dy[p][o] W[o][k],
// a product of a few rows that gemm_fast computes reading W [O][K] in place (strips of W rows
// times broadcast values of dy, in registers), then col2im adds each column back onto the
// input pixel it came from.
#include "engine/cpu/conv2d_narrow.h"

#if SIGNET_HAVE_AVX512_GEMM
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "engine/cpu/conv2d_threads.h"
#include "engine/ops/matmul.h"

namespace signet::cpu {
namespace {

using gemm::NR;
constexpr int kForwardPixels = 24;  // R x P accumulators, the rest of the 32 registers for loads
// With more pixels R falls to 1 and P + 1 loads feed P multiply-adds: the blocked GEMM with W
// in place is faster from resnet50's 4x4 layer (16 pixels) on.
constexpr int kForwardMaxPixels = 8;

// y rows [o0, o0 + R) for all P pixels (R x P <= kForwardPixels).
template <int R, int P>
void dot_rows(const float* w, int64_t K, const float* xcol, int64_t o0, const float* bias, float* yrows,
              int64_t ldy) {
  __m512 acc[R][P];
  for (int r = 0; r < R; ++r)
    for (int p = 0; p < P; ++p) acc[r][p] = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; k += 16) {
    const __mmask16 m = static_cast<__mmask16>(K - k >= 16 ? 0xFFFF : (1u << (K - k)) - 1);
    __m512 xv[P];
    for (int p = 0; p < P; ++p) xv[p] = _mm512_maskz_loadu_ps(m, xcol + p * K + k);
    for (int r = 0; r < R; ++r) {
      const __m512 wv = _mm512_maskz_loadu_ps(m, w + (o0 + r) * K + k);
      for (int p = 0; p < P; ++p) acc[r][p] = _mm512_fmadd_ps(wv, xv[p], acc[r][p]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int p = 0; p < P; ++p)
      yrows[r * ldy + p] = (bias ? bias[o0 + r] : 0.0f) + _mm512_reduce_add_ps(acc[r][p]);
}

// All rows [o_begin, o_end) of y (ldy = P) for P pixels: rows in groups of R = 24 / P.
template <int P>
void dot_all_rows(const float* w, int64_t K, const float* xcol, int64_t o_begin, int64_t o_end, const float* bias,
                  float* y) {
  constexpr int R = std::max(1, kForwardPixels / P);
  int64_t o = o_begin;
  for (; o + R <= o_end; o += R) dot_rows<R, P>(w, K, xcol, o, bias, y + o * P, P);
  for (; o < o_end; ++o) dot_rows<1, P>(w, K, xcol, o, bias, y + o * P, P);
}

template <int... Ps>
void dot_dispatch(std::integer_sequence<int, Ps...>, int64_t P, const float* w, int64_t K, const float* xcol,
                  int64_t o_begin, int64_t o_end, const float* bias, float* y) {
  ((P == Ps + 1 ? dot_all_rows<Ps + 1>(w, K, xcol, o_begin, o_end, bias, y) : void()), ...);
}

}  // namespace

bool conv2d_narrow_applies(const Conv2dGeom& g) { return g.N * g.Ho * g.Wo <= NR && g.N * g.Ho * g.Wo > 0; }

bool conv2d_narrow_forward_applies(const Conv2dGeom& g) {
  return g.N * g.Ho * g.Wo <= kForwardMaxPixels && g.N * g.Ho * g.Wo > 0;
}

void conv2d_narrow_forward(const Conv2dGeom& g, const float* x, const float* w, const float* bias, float* y) {
  const int64_t HWo = g.Ho * g.Wo, P = g.N * HWo, K = g.C * g.kh * g.kw, O = g.O;
  thread_local std::vector<float> xcol_mine, y_mine;
  xcol_mine.resize(P * K);
  y_mine.resize(O * P);
  float* xcol = xcol_mine.data();
  float* yt = y_mine.data();  // [O][P]; y is [N][O][Ho Wo]
  for (int64_t p = 0; p < P; ++p) {
    const int64_t n = p / HWo, i = p % HWo / g.Wo, j = p % g.Wo;
    float* row = xcol + p * K;
    for (int64_t c = 0; c < g.C; ++c)
      for (int64_t ka = 0; ka < g.kh; ++ka)
        for (int64_t kb = 0; kb < g.kw; ++kb) {
          const int64_t ih = i * g.sh - g.ph + ka, iw = j * g.sw - g.pw + kb;
          const bool inside = ih >= 0 && ih < g.H && iw >= 0 && iw < g.W;
          *row++ = inside ? x[((n * g.C + c) * g.H + ih) * g.W + iw] : 0.0f;
        }
  }
  const int T = conv_split::threads(g);
#pragma omp parallel num_threads(T) if (T > 1)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    dot_dispatch(std::make_integer_sequence<int, kForwardMaxPixels>{}, P, w, K, xcol, O * t / nt, O * (t + 1) / nt,
                 bias, yt);
  }
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t q = 0; q < HWo; ++q) y[(n * O + o) * HWo + q] = yt[o * P + n * HWo + q];
}

void conv2d_narrow_backward_input(const Conv2dGeom& g, const float* dy, const float* w, float* dx) {
  const int64_t HWo = g.Ho * g.Wo, P = g.N * HWo, K = g.C * g.kh * g.kw, O = g.O;
  thread_local std::vector<float> a_mine, dcol_mine;
  a_mine.resize(P * O);
  dcol_mine.resize(P * K);
  float* a = a_mine.data();
  float* dcol = dcol_mine.data();
  for (int64_t p = 0; p < P; ++p)  // a[p][o]: pixel p = (n, i, j) of dy
    for (int64_t o = 0; o < O; ++o) a[p * O + o] = dy[(p / HWo * O + o) * HWo + p % HWo];
  // dcol = a W: a few rows against W read in place (matmul_cpu.cpp's strips of W).
  gemm_fast(false, false, P, K, O, 1.0f, a, O, w, K, 0.0f, dcol, K);
  const int T = conv_split::threads(g);
#pragma omp parallel num_threads(T) if (T > 1)
  {
    // col2im: each (image, channel) plane of dx gathers its columns from every pixel.
#pragma omp for schedule(static)
    for (int64_t nc = 0; nc < g.N * g.C; ++nc) {
      const int64_t n = nc / g.C, c = nc % g.C;
      float* plane = dx + nc * g.H * g.W;
      std::fill(plane, plane + g.H * g.W, 0.0f);
      for (int64_t q = 0; q < HWo; ++q) {
        const int64_t i = q / g.Wo, j = q % g.Wo;
        const float* col = dcol + (n * HWo + q) * K + c * g.kh * g.kw;
        for (int64_t ka = 0; ka < g.kh; ++ka) {
          const int64_t ih = i * g.sh - g.ph + ka;
          if (ih < 0 || ih >= g.H) continue;
          for (int64_t kb = 0; kb < g.kw; ++kb) {
            const int64_t iw = j * g.sw - g.pw + kb;
            if (iw >= 0 && iw < g.W) plane[ih * g.W + iw] += col[ka * g.kw + kb];
          }
        }
      }
    }
  }
}

}  // namespace signet::cpu
#endif
