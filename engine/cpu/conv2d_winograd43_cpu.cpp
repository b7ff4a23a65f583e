// 3x3 stride-1 convolutions by Winograd's F(4x4, 3x3) (Lavin & Gray 2016), the forward product
// and (flipped kernel) the input gradient; conv2d_winograd (conv2d_winograd_cpu.cpp) calls it
// where conv2d_winograd43_applies says so, and F(2x2, 3x3) otherwise.
//
// The same scheme as F(2x2, 3x3) with 6x6 input patches per 4x4 block of outputs: 36 GEMMs of
// O x C x tiles, i.e. 36/16 = 2.25 multiplies per output per (o, c) instead of 4 (and 9
// directly). The transforms have larger coefficients (up to 8 and 1/24), so the rounding
// differs from the direct sum by more than F(2x2, 3x3)'s, still well inside float's use here
// (the conv tests bound it against the reference). Matrices (points 0, 1, -1, 2, -2, inf):
//   B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
//   G   = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
//   A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
#include "engine/cpu/conv2d_winograd.h"

#if SIGNET_HAVE_AVX512_GEMM
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <vector>

#include "engine/cpu/conv2d_im2col_pack.h"
#include "engine/cpu/conv2d_threads.h"
#include "engine/cpu/conv2d_winograd43_tiles.h"
#include "engine/cpu/conv2d_winograd_tiles.h"
#include "engine/cpu/gemm_blocked.h"

namespace signet::cpu {
namespace {

using conv_pack::Cols;
using conv_pack::Group16;
using gemm::NR;
using namespace winograd;

// u = G k over three values S apart (u six values U apart).
template <int S, int U>
inline void kernel_1d(const __m512* k, __m512* u) {
  const __m512 sum02 = _mm512_add_ps(k[0], k[2 * S]);
  const __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(1.0f / 24), k[0], _mm512_mul_ps(_mm512_set1_ps(1.0f / 6), k[2 * S]));
  const __m512 q = _mm512_mul_ps(_mm512_set1_ps(1.0f / 12), k[1 * S]);
  const __m512 minus_sixth = _mm512_set1_ps(-1.0f / 6);
  u[0] = _mm512_mul_ps(_mm512_set1_ps(0.25f), k[0]);
  u[1 * U] = _mm512_mul_ps(minus_sixth, _mm512_add_ps(sum02, k[1 * S]));
  u[2 * U] = _mm512_mul_ps(minus_sixth, _mm512_sub_ps(sum02, k[1 * S]));
  u[3 * U] = _mm512_add_ps(p, q);
  u[4 * U] = _mm512_sub_ps(p, q);
  u[5 * U] = k[2 * S];
}

// y = A^T m over six values S apart (y four values Y apart).
template <int S, int Y>
inline void output_1d(const __m512* m, __m512* y) {
  const __m512 a = _mm512_add_ps(m[1 * S], m[2 * S]), b = _mm512_sub_ps(m[1 * S], m[2 * S]);
  const __m512 c = _mm512_add_ps(m[3 * S], m[4 * S]), d = _mm512_sub_ps(m[3 * S], m[4 * S]);
  y[0] = _mm512_add_ps(_mm512_add_ps(m[0], a), c);
  y[1 * Y] = _mm512_fmadd_ps(_mm512_set1_ps(2.0f), d, b);
  y[2 * Y] = _mm512_fmadd_ps(_mm512_set1_ps(4.0f), c, a);
  y[3 * Y] = _mm512_add_ps(_mm512_fmadd_ps(_mm512_set1_ps(8.0f), d, b), m[5 * S]);
}

// U = G g G^T of 16 kernels (lanes), u[i*6 + j].
inline void transform_kernel43(const __m512 k[9], __m512 u[36]) {
  __m512 t[18];
  for (int b = 0; b < 3; ++b) kernel_1d<3, 3>(k + b, t + b);          // t[i][b] = (G g)[i][b]
  for (int i = 0; i < 6; ++i) kernel_1d<1, 1>(t + 3 * i, u + 6 * i);  // u[i][j] = (G g G^T)[i][j]
}

// Stores output row u of 16 tiles (lanes) of one channel: y[t] holds column t of each tile;
// interleaved, tile l's four columns are floats 4l..4l+3 of 64.
inline void store_row43(const Conv2dGeom& g, const Group16& grp, float* yo, const __m512 y[4], int u) {
  // pairs (y0, y1) and (y2, y3) of tiles 0-7 (lo) and 8-15 (hi), then the pairs as 64-bit lanes
  const __m512i lo_idx = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  const __m512i hi_idx = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
  const __m512d lo01 = _mm512_castps_pd(_mm512_permutex2var_ps(y[0], lo_idx, y[1]));
  const __m512d hi01 = _mm512_castps_pd(_mm512_permutex2var_ps(y[0], hi_idx, y[1]));
  const __m512d lo23 = _mm512_castps_pd(_mm512_permutex2var_ps(y[2], lo_idx, y[3]));
  const __m512d hi23 = _mm512_castps_pd(_mm512_permutex2var_ps(y[2], hi_idx, y[3]));
  const __m512i first = _mm512_set_epi64(11, 3, 10, 2, 9, 1, 8, 0), second = _mm512_set_epi64(15, 7, 14, 6, 13, 5, 12, 4);
  const __m512 out[4] = {_mm512_castpd_ps(_mm512_permutex2var_pd(lo01, first, lo23)),
                         _mm512_castpd_ps(_mm512_permutex2var_pd(lo01, second, lo23)),
                         _mm512_castpd_ps(_mm512_permutex2var_pd(hi01, first, hi23)),
                         _mm512_castpd_ps(_mm512_permutex2var_pd(hi01, second, hi23))};
  for (int r = 0; r < grp.n; ++r) {
    const Group16::Run& run = grp.run[r];
    const int64_t oy = 4 * run.i + u;
    if (oy >= g.Ho) continue;
    // float e of out is output column 4*run.j + e - 4*run.off: keep the run's, left of Wo
    const int64_t e0 = 4 * run.off, e1 = std::min<int64_t>(4 * (run.off + run.len), e0 + g.Wo - 4 * run.j);
    const Mask64 fm(low_bits(e1 - e0) << e0);
    float* base = yo + run.img * g.O * g.Ho * g.Wo + oy * g.Wo + 4 * run.j - e0;
    for (int k = 0; k < 4; ++k)
      if (fm.q[k]) _mm512_mask_storeu_ps(base + 16 * k, fm.q[k], out[k]);
  }
}

// Images [0, count) of x into y (winograd::images with F(4x4, 3x3)'s transforms).
template <int MR>
void winograd43_images(const Conv2dGeom& g, const float* x, const float* up, const float* bias, float* y,
                       int64_t count, int part, int parts) {
  auto input = [&g](const PaddedTiles& pt, const Group16& grp, const float* xp, int64_t c, __m512 v[36]) {
    __m512 d[36], t[36];
    load_patches43(pt, grp, xp, c, g.C, d);
    for (int j = 0; j < 6; ++j) input_1d<6>(d + j, t + j);          // columns: B^T d
    for (int i = 0; i < 6; ++i) input_1d<1>(t + 6 * i, v + 6 * i);  // rows: (B^T d) B
  };
  auto output = [&g](const Group16& grp, float* yo, const __m512 m[36], __m512 b) {
    __m512 s[24];
    for (int j = 0; j < 6; ++j) output_1d<6, 6>(m + j, s + j);  // s[r][j] = (A^T m)[r][j]
    for (int r = 0; r < 4; ++r) {
      __m512 row[4];
      output_1d<1, 1>(s + 6 * r, row);
      for (__m512& v : row) v = _mm512_add_ps(v, b);
      store_row43(g, grp, yo, row, r);
    }
  };
  winograd::images<MR, 36>(g, patch_geom43(g), x, up, bias, y, count, part, parts, input, output);
}

}  // namespace

bool conv2d_winograd43_applies(const Conv2dGeom& g) {
  // Fewer multiplies than F(2x2, 3x3) only where the 4x4 tiles do not waste most of their
  // outputs: by tile positions times tiles, at least a quarter fewer. And two blocks of NR
  // tiles for every thread at least: the 36 transformed kernels (2.25x F(2x2, 3x3)'s) are made
  // once per call and streamed from beyond L2 for every block, and with fewer tiles to serve
  // (resnet50's 8x8 and 4x4 layers at batch 16) they cost more than the products save.
  const int64_t t4 = ((g.Ho + 3) / 4) * ((g.Wo + 3) / 4), t2 = ((g.Ho + 1) / 2) * ((g.Wo + 1) / 2);
  const int T = conv_split::threads(g);
  return 4 * 36 * t4 <= 3 * 16 * t2 && g.N * t4 >= 2 * int64_t{T} * NR;
}

void conv2d_winograd43(const Conv2dGeom& g, const float* x, const float* w, const float* bias, float* y,
                       bool flipped) {
  winograd::run_on_threads(
      g, 36, x, y, [&](auto mr, float* up) {
        winograd::transform_kernels<decltype(mr)::value, 36>(g, w, flipped, up, transform_kernel43);
      },
      [&](auto mr, const float* xs, const float* up, float* ys, int64_t count, int part, int parts) {
        winograd43_images<decltype(mr)::value>(g, xs, up, bias, ys, count, part, parts);
      });
}

}  // namespace signet::cpu
#endif
