// 3x3 stride-1 convolutions by Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray 2016).
// conv2d_winograd hands a geometry to F(4x4, 3x3) (conv2d_winograd43_cpu.cpp) where that one
// applies: large enough images and batches.
//
// Each 2x2 block of outputs ("tile") is computed from the 4x4 input patch d that covers it:
//   y_tile = A^T [ (G g G^T) (.) (B^T d B) ] A        (. = elementwise, per channel pair)
// summed over input channels. With U = G g G^T and V = B^T d B (both 4x4), the sum over c at
// each of the 16 positions xi is a matrix product: M_xi[o, tile] = sum_c U_xi[o, c] V_xi[c, tile].
// That is 16 GEMMs of O x C x tiles, i.e. 16/4 = 4 multiplies per output per (o, c) instead of
// 9: 2.25x fewer FLOPs in the products, at the price of the transforms (vectorised over 16
// tiles) and slightly different rounding (the transforms add and subtract up to 9 terms).
//
// Tiles run in blocks of 32 (one register-tile width): transform the block's inputs into
// V [16][C][32] (the GEMM's packed B layout), 16 kernel sweeps into M [16][O][32], transform
// M back into 2x2 outputs. The 4x4 patches of 16 consecutive tiles are the rows of a stride-2
// 4x4 "im2col" (conv2d_im2col_pack.h's load_x16). Matrices (F(2,3)):
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]   G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]
//   A^T = [1 1 1 0; 0 1 -1 -1]
#include "engine/cpu/conv2d_winograd.h"

#if SIGNET_HAVE_AVX512_GEMM
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "engine/cpu/conv2d_im2col_pack.h"
#include "engine/cpu/conv2d_threads.h"
#include "engine/cpu/conv2d_winograd_tiles.h"
#include "engine/cpu/gemm_blocked.h"

namespace signet::cpu {
namespace {

using conv_pack::Cols;
using conv_pack::Group16;
using gemm::NR;
using namespace winograd;

// U = G g G^T of 16 kernels (lanes), u[i*4 + j].
inline void transform_kernel(const __m512 k[9], __m512 u[16]) {
  const __m512 half = _mm512_set1_ps(0.5f);
  __m512 t[4][3];  // G g
  for (int b = 0; b < 3; ++b) {
    const __m512 outer = _mm512_add_ps(k[b], k[6 + b]);
    t[0][b] = k[b];
    t[1][b] = _mm512_mul_ps(half, _mm512_add_ps(outer, k[3 + b]));
    t[2][b] = _mm512_mul_ps(half, _mm512_sub_ps(outer, k[3 + b]));
    t[3][b] = k[6 + b];
  }
  for (int i = 0; i < 4; ++i) {
    const __m512 outer = _mm512_add_ps(t[i][0], t[i][2]);
    u[i * 4] = t[i][0];
    u[i * 4 + 1] = _mm512_mul_ps(half, _mm512_add_ps(outer, t[i][1]));
    u[i * 4 + 2] = _mm512_mul_ps(half, _mm512_sub_ps(outer, t[i][1]));
    u[i * 4 + 3] = t[i][2];
  }
}

// Stores output rows u = 0, 1 of 16 tiles (lanes) of channel o: y0 = (Y_u0, Y_u1) interleaved.
inline void store_tiles(const Conv2dGeom& g, const Group16& grp, float* yo, __m512 yu0, __m512 yu1, int u) {
  const __m512i lo_idx = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  const __m512i hi_idx = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
  const __m512 lo = _mm512_permutex2var_ps(yu0, lo_idx, yu1), hi = _mm512_permutex2var_ps(yu0, hi_idx, yu1);
  for (int r = 0; r < grp.n; ++r) {
    const Group16::Run& run = grp.run[r];
    const int64_t oy = 2 * run.i + u;
    if (oy >= g.Ho) continue;
    // float e of (lo, hi) is output column 2*run.j + e - 2*run.off
    const int64_t e0 = 2 * run.off;
    const uint32_t m = output_pair_mask(run, g.Wo);
    float* base = yo + run.img * g.O * g.Ho * g.Wo + oy * g.Wo + 2 * run.j - e0;
    _mm512_mask_storeu_ps(base, static_cast<__mmask16>(m & 0xFFFFu), lo);
    _mm512_mask_storeu_ps(base + 16, static_cast<__mmask16>(m >> 16), hi);
  }
}

// Images [0, count) of x into y (winograd::images with F(2x2, 3x3)'s transforms).
template <int MR>
void winograd_images(const Conv2dGeom& g, const float* x, const float* up, const float* bias, float* y,
                     int64_t count, int part, int parts) {
  auto input = [&g](const PaddedTiles& pt, const Group16& grp, const float* xp, int64_t c, __m512 v[16]) {
    __m512 d[16];
    load_patches(pt, grp, xp, c, g.C, d);
    transform_input(d, v);
  };
  auto output = [&g](const Group16& grp, float* yo, const __m512 m[16], __m512 b) {
    __m512 s0[4], s1[4];
    for (int j = 0; j < 4; ++j) {
      s0[j] = _mm512_add_ps(_mm512_add_ps(m[j], m[4 + j]), m[8 + j]);
      s1[j] = _mm512_sub_ps(_mm512_sub_ps(m[4 + j], m[8 + j]), m[12 + j]);
    }
    const __m512 y00 = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(s0[0], s0[1]), s0[2]), b);
    const __m512 y01 = _mm512_add_ps(_mm512_sub_ps(_mm512_sub_ps(s0[1], s0[2]), s0[3]), b);
    const __m512 y10 = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(s1[0], s1[1]), s1[2]), b);
    const __m512 y11 = _mm512_add_ps(_mm512_sub_ps(_mm512_sub_ps(s1[1], s1[2]), s1[3]), b);
    store_tiles(g, grp, yo, y00, y01, 0);
    store_tiles(g, grp, yo, y10, y11, 1);
  };
  images<MR, 16>(g, patch_geom(g), x, up, bias, y, count, part, parts, input, output);
}

}  // namespace

bool conv2d_winograd_applies(const Conv2dGeom& g) {
  static const bool enabled = [] {
    const char* v = std::getenv("SIGNET_WINOGRAD");
    return !(v && std::string(v) == "0");
  }();
  if (!enabled) return false;
  // Worth it with enough channels for the products to outweigh the transforms, and images of
  // at least 4x4 outputs (resnet50's 4x4 layers gain since the transforms run on all threads
  // and the patches are no longer padded by 32 floats a row; its 2x2 layers, one tile an
  // image, lose); the whole input-channel sum in one k-block (C <= 1024). bench_conv.cpp
  // times the paper models' layers both ways (SIGNET_WINOGRAD=0).
  // Threads take whole images or, with too few of them (batch 1), blocks of NR tiles
  // round-robin: then only with a whole block for each.
  const int T = conv_split::threads(g);
  const int64_t blocks = g.N * ((g.Ho + 1) / 2) * ((g.Wo + 1) / 2) / NR;
  const bool splits = conv_split::splits_evenly(g, T) || blocks >= T;
  return g.kh == 3 && g.kw == 3 && g.sh == 1 && g.sw == 1 && g.ph <= 2 && g.pw <= 2 && g.C >= 16 &&
         g.C <= 1024 && g.O >= 16 && g.Ho >= 4 && g.Wo >= 4 && g.N > 0 && splits;
}

void conv2d_winograd(const Conv2dGeom& g, const float* x, const float* w, const float* bias, float* y, bool flipped) {
  if (conv2d_winograd43_applies(g)) return conv2d_winograd43(g, x, w, bias, y, flipped);
  conv2d_winograd23(g, x, w, bias, y, flipped);
}

void conv2d_winograd23(const Conv2dGeom& g, const float* x, const float* w, const float* bias, float* y,
                       bool flipped) {
  winograd::run_on_threads(
      g, 16, x, y, [&](auto mr, float* up) { transform_kernels<decltype(mr)::value, 16>(g, w, flipped, up, transform_kernel); },
      [&](auto mr, const float* xs, const float* up, float* ys, int64_t count, int part, int parts) {
        winograd_images<decltype(mr)::value>(g, xs, up, bias, ys, count, part, parts);
      });
}

}  // namespace signet::cpu
#endif
