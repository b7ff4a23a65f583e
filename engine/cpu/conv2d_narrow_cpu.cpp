// Input gradient of a convolution with at most NR output pixels in all (conv2d_narrow.h).
//
// With K = C kh kw and P = N Ho Wo pixels, the columns of the im2col matrix get
//   dcol[p][k] = sum_o dy[p][o] W[o][k],
// then col2im adds each back onto the input pixel it came from. W [O][K] is read row by row in
// place: for each o, a strip of V vectors of W times R broadcast values of dy accumulates into
// R x V registers (R pixels, 16 V columns of K), so every weight is loaded once per R pixels
// and the threads take disjoint ranges of K.
#include "engine/cpu/conv2d_narrow.h"

#if SIGNET_HAVE_AVX512_GEMM
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <vector>

#include "engine/cpu/conv2d_threads.h"

namespace signet::cpu {
namespace {

using gemm::NR;

// out[r][k0 .. k0 + n) for the R pixels whose dy values are a[o * P + r], over all O rows of w.
template <int R, int V>
void strip(const float* a, int64_t P, const float* w, int64_t O, int64_t K, int64_t k0, int64_t n, float* out) {
  __m512 acc[R][V];
  __mmask16 m[V];
  for (int v = 0; v < V; ++v) {
    const int64_t left = n - 16 * v;
    m[v] = static_cast<__mmask16>(left >= 16 ? 0xFFFF : left > 0 ? (1u << left) - 1 : 0);
    for (int r = 0; r < R; ++r) acc[r][v] = _mm512_setzero_ps();
  }
  for (int64_t o = 0; o < O; ++o) {
    const float* wr = w + o * K + k0;
    __m512 wv[V];
    for (int v = 0; v < V; ++v) wv[v] = _mm512_maskz_loadu_ps(m[v], wr + 16 * v);
    for (int r = 0; r < R; ++r) {
      const __m512 b = _mm512_set1_ps(a[o * P + r]);
      for (int v = 0; v < V; ++v) acc[r][v] = _mm512_fmadd_ps(b, wv[v], acc[r][v]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) _mm512_mask_storeu_ps(out + r * K + k0 + 16 * v, m[v], acc[r][v]);
}

// Pixels [p0, p0 + R) of dcol over columns [k_begin, k_end): strips of 16 V columns.
template <int R>
void rows(const float* a, int64_t P, const float* w, int64_t O, int64_t K, int64_t k_begin, int64_t k_end,
          float* dcol) {
  constexpr int V = 24 / R;  // R x V accumulators, the rest of the 32 registers for W and dy
  for (int64_t k0 = k_begin; k0 < k_end; k0 += 16 * V)
    strip<R, V>(a, P, w, O, K, k0, std::min<int64_t>(16 * V, k_end - k0), dcol);
}

}  // namespace

bool conv2d_narrow_applies(const Conv2dGeom& g) { return g.N * g.Ho * g.Wo <= NR && g.N * g.Ho * g.Wo > 0; }

void conv2d_narrow_backward_input(const Conv2dGeom& g, const float* dy, const float* w, float* dx) {
  const int64_t HWo = g.Ho * g.Wo, P = g.N * HWo, K = g.C * g.kh * g.kw, O = g.O;
  thread_local std::vector<float> a_mine, dcol_mine;
  a_mine.resize(O * P);
  dcol_mine.resize(P * K);
  float* a = a_mine.data();
  float* dcol = dcol_mine.data();
  for (int64_t o = 0; o < O; ++o)  // a[o][p]: pixel p = (n, i, j) of dy
    for (int64_t p = 0; p < P; ++p) a[o * P + p] = dy[(p / HWo * O + o) * HWo + p % HWo];
  const int T = conv_split::threads(g);
#pragma omp parallel num_threads(T) if (T > 1)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    // Column ranges on 16-float boundaries, so no two threads write one cache line of a row.
    const int64_t k_begin = std::min(K, (K * t / nt + 15) / 16 * 16);
    const int64_t k_end = t + 1 == nt ? K : std::min(K, (K * (t + 1) / nt + 15) / 16 * 16);
    for (int64_t p0 = 0; p0 < P;) {
      const int64_t left = P - p0;
      const float* ap = a + p0;
      float* out = dcol + p0 * K;
      if (left >= 8) {
        rows<8>(ap, P, w, O, K, k_begin, k_end, out), p0 += 8;
      } else if (left >= 4) {
        rows<4>(ap, P, w, O, K, k_begin, k_end, out), p0 += 4;
      } else if (left >= 2) {
        rows<2>(ap, P, w, O, K, k_begin, k_end, out), p0 += 2;
      } else {
        rows<1>(ap, P, w, O, K, k_begin, k_end, out), p0 += 1;
      }
    }
#pragma omp barrier
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
