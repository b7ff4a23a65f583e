// Pieces shared by the Winograd F(4x4, 3x3) forward product (conv2d_winograd43_cpu.cpp) and
// weight gradient (conv2d_winograd_wgrad_cpu.cpp): the 6x6 input patches of 16 tiles at a time
// from padded images (conv2d_winograd_tiles.h) and the 1-D pass of their transform B^T d B.
// AVX-512 only.
#pragma once
#include "engine/cpu/conv2d_winograd_tiles.h"

#if SIGNET_HAVE_AVX512_GEMM
namespace signet::cpu::winograd {

// Tile (ty, tx) reads the 6x6 patch at x[4ty - ph + i, 4tx - pw + j].
inline Conv2dGeom patch_geom43(const Conv2dGeom& g) {
  return {g.N, g.C, g.H, g.W, g.O, 6, 6, 4, 4, g.ph, g.pw, (g.Ho + 3) / 4, (g.Wo + 3) / 4};
}

// v = B^T d over six values S apart.
template <int S>
inline void input_1d(const __m512* d, __m512* v) {
  const __m512 four = _mm512_set1_ps(4.0f), five = _mm512_set1_ps(5.0f), two = _mm512_set1_ps(2.0f);
  v[0] = _mm512_fmadd_ps(four, d[0], _mm512_fnmadd_ps(five, d[2 * S], d[4 * S]));
  const __m512 t1 = _mm512_fnmadd_ps(four, d[2 * S], d[4 * S]);  // d4 - 4 d2
  const __m512 t2 = _mm512_fnmadd_ps(four, d[1 * S], d[3 * S]);  // d3 - 4 d1
  const __m512 t3 = _mm512_sub_ps(d[4 * S], d[2 * S]);
  const __m512 t4 = _mm512_mul_ps(two, _mm512_sub_ps(d[3 * S], d[1 * S]));
  v[1 * S] = _mm512_add_ps(t1, t2);
  v[2 * S] = _mm512_sub_ps(t1, t2);
  v[3 * S] = _mm512_add_ps(t3, t4);
  v[4 * S] = _mm512_sub_ps(t3, t4);
  v[5 * S] = _mm512_fmadd_ps(four, d[1 * S], _mm512_fnmadd_ps(five, d[3 * S], d[5 * S]));
}

// Four 16-bit masks of a 64-bit one.
struct Mask64 {
  __mmask16 q[4];
  explicit Mask64(uint64_t m) {
    for (int k = 0; k < 4; ++k) q[k] = static_cast<__mmask16>((m >> (16 * k)) & 0xFFFFu);
  }
};
inline uint64_t low_bits(int64_t n) { return n >= 64 ? ~uint64_t{0} : (uint64_t{1} << n) - 1; }

// d[i*6 + j] = element (i, j) of the 6x6 patches of the group's 16 tiles (lanes), channel c:
// for 16 tiles in a row, every 4th float of a 64-float window (lanes 0-7 from its first 32,
// 8-15 from the rest), loaded masked to the run's floats only.
inline void load_patches43(const PaddedTiles& pt, const Group16& grp, const float* xp, int64_t c, int64_t C,
                           __m512 d[36]) {
  const __m512i lo_idx = _mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 28, 24, 20, 16, 12, 8, 4, 0);
  const __m512i hi_idx = _mm512_set_epi32(28, 24, 20, 16, 12, 8, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0);
  for (int e = 0; e < 36; ++e) d[e] = _mm512_setzero_ps();
  for (int r = 0; r < grp.n; ++r) {
    const Group16::Run& run = grp.run[r];
    const __mmask16 m = static_cast<__mmask16>(((1u << run.len) - 1) << run.off);
    const Mask64 fm((low_bits(4 * run.len) << (4 * run.off)) & 0x1111111111111111ull);
    const float* base = xp + ((run.img * C + c) * pt.Hp + 4 * run.i) * pt.Wp + 4 * (run.j - run.off);
    for (int i = 0; i < 6; ++i)
      for (int j = 0; j < 6; ++j) {
        const float* q = base + i * pt.Wp + j;
        __m512 w = _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(fm.q[0], q), lo_idx,
                                          _mm512_maskz_loadu_ps(fm.q[1], q + 16));
        if (fm.q[2] | fm.q[3])
          w = _mm512_mask_mov_ps(w, 0xFF00, _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(fm.q[2], q + 32), hi_idx,
                                                                   _mm512_maskz_loadu_ps(fm.q[3], q + 48)));
        d[i * 6 + j] = _mm512_mask_mov_ps(d[i * 6 + j], m, w);
      }
  }
}

}  // namespace signet::cpu::winograd
#endif
