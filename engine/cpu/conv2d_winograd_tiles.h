// Pieces shared by the Winograd F(2x2, 3x3) forward product (conv2d_winograd_cpu.cpp) and
// weight gradient (conv2d_winograd_wgrad_cpu.cpp): the 4x4 input patches of 16 tiles at a
// time from padded images, and their transform V = B^T d B. AVX-512 only.
#pragma once
#include "engine/cpu/gemm_blocked.h"

#if SIGNET_HAVE_AVX512_GEMM
#include <immintrin.h>

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "engine/ops/conv2d.h"
#include "engine/cpu/conv2d_im2col_pack.h"
#include "engine/cpu/conv2d_threads.h"

namespace signet::cpu::winograd {

using conv_pack::Group16;

// The patches as a convolution geometry: tile (ty, tx) reads x[2ty - ph + i, 2tx - pw + j].
inline Conv2dGeom patch_geom(const Conv2dGeom& g) {
  return {g.N, g.C, g.H, g.W, g.O, 4, 4, 2, 2, g.ph, g.pw, (g.Ho + 1) / 2, (g.Wo + 1) / 2};
}

// V = B^T d B for 16 tiles at once (d[i*4 + j] = patch element (i, j) of each tile).
inline void transform_input(const __m512 d[16], __m512 v[16]) {
  __m512 t[16];
  for (int j = 0; j < 4; ++j) {
    t[0 + j] = _mm512_sub_ps(d[0 + j], d[8 + j]);
    t[4 + j] = _mm512_add_ps(d[4 + j], d[8 + j]);
    t[8 + j] = _mm512_sub_ps(d[8 + j], d[4 + j]);
    t[12 + j] = _mm512_sub_ps(d[4 + j], d[12 + j]);
  }
  for (int i = 0; i < 16; i += 4) {
    v[i + 0] = _mm512_sub_ps(t[i + 0], t[i + 2]);
    v[i + 1] = _mm512_add_ps(t[i + 1], t[i + 2]);
    v[i + 2] = _mm512_sub_ps(t[i + 2], t[i + 1]);
    v[i + 3] = _mm512_sub_ps(t[i + 1], t[i + 3]);
  }
}

// Loads of the 4x4 patches from padded images: xp[img][c][row][col] = x[img][c][row - ph][col -
// pw] (zero outside), rows 0..2*th+1 and columns 0..2*tw+1, so every patch is in the plane and
// element (i, j) of 16 consecutive tiles in a tile row is the even floats of 32 at row 2ty + i,
// column 2tx + j: two masked loads and a permute (the first version gathered each one with the
// padding checks of conv_pack::load_x16 and spent as long on them as on the products). The
// masks keep only the run's floats, all inside its plane; the 32-float window may start up to
// 30 floats before the plane, so the planes sit between guards of kGuard floats (never read
// unmasked), not in rows padded by 32 on each side (7x the floats of an 8x8 image).
constexpr int64_t kGuard = 32;

struct PaddedTiles {
  int64_t Hp, Wp, img_sz;  // per image: C * Hp * Wp
  int64_t buffer_floats(int64_t images) const { return kGuard + images * img_sz + kGuard; }
  float* first_image(float* buffer) const { return buffer + kGuard; }
};

// pg: the patches' geometry (stride: the tile's outputs, 2 or 4; Ho x Wo tiles), whose patches
// reach 2 past the last tile's outputs.
inline PaddedTiles padded_tiles(const Conv2dGeom& g, const Conv2dGeom& pg) {
  PaddedTiles p;
  p.Hp = pg.sh * pg.Ho + 2;
  p.Wp = pg.sw * pg.Wo + 2;
  p.img_sz = g.C * p.Hp * p.Wp;
  return p;
}

inline void pad_image(const Conv2dGeom& g, const PaddedTiles& p, const float* xn, float* xp) {
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t r = 0; r < g.H; ++r)
      std::copy(xn + (c * g.H + r) * g.W, xn + (c * g.H + r + 1) * g.W, xp + (c * p.Hp + r + g.ph) * p.Wp + g.pw);
}

// A run of tiles against 32 floats of output row that pair its lanes (float e = lane e/2,
// column 2*run.j + e - 2*run.off): the floats [2*off, 2*(off+len)) left of column Wo.
inline uint32_t output_pair_mask(const Group16::Run& run, int64_t Wo) {
  const int64_t e0 = 2 * run.off, e1 = std::min<int64_t>(2 * (run.off + run.len), e0 + Wo - 2 * run.j);
  return e1 > e0 ? static_cast<uint32_t>(((uint64_t{1} << (e1 - e0)) - 1) << e0) : 0u;
}

// d[i*4 + j] = element (i, j) of the patches of the group's 16 tiles (lanes), channel c.
inline void load_patches(const PaddedTiles& pt, const Group16& grp, const float* xp, int64_t c, int64_t C,
                         __m512 d[16]) {
  const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  for (int e = 0; e < 16; ++e) d[e] = _mm512_setzero_ps();
  for (int r = 0; r < grp.n; ++r) {
    const Group16::Run& run = grp.run[r];
    const __mmask16 m = static_cast<__mmask16>(((1u << run.len) - 1) << run.off);
    // Float 2l of the window is lane l's: the even floats of the run's lanes.
    const uint64_t floats = (((uint64_t{1} << (2 * run.len)) - 1) << (2 * run.off)) & 0x55555555u;
    const __mmask16 lo = static_cast<__mmask16>(floats & 0xFFFFu), hi = static_cast<__mmask16>(floats >> 16);
    const float* base = xp + ((run.img * C + c) * pt.Hp + 2 * run.i) * pt.Wp + 2 * (run.j - run.off);
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 4; ++j) {
        const float* q = base + i * pt.Wp + j;
        const __m512 w =
            _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(lo, q), even, _mm512_maskz_loadu_ps(hi, q + 16));
        d[i * 4 + j] = _mm512_mask_mov_ps(d[i * 4 + j], m, w);
      }
  }
}

// U = G g G^T for every kernel (o, c), packed as the GEMM's A: up[xi][o / MR][c][o % MR] for
// the P positions xi of the tile size; transform(k, u) turns 16 kernels (lanes; k[e] = element
// e of the 3x3 kernel) into their P transformed values. Kernel (o, c) is w[o][c] or, `flipped`
// (the input gradient's convolution), w[c][o] turned by 180 degrees, read in place. Panels of
// MR output channels go to the threads (an `omp for` inside the caller's parallel region,
// ending in its barrier); a panel's MR kernels of one c are the lanes of one vector
// (gathered), and 16 channels are staged before each plane gets its run of them: the planes
// lie a multiple of 4 KiB apart, so writing them float by float thrashed the cache sets.
template <int MR, int P, class Transform>
void transform_kernels(const Conv2dGeom& g, const float* w, bool flipped, float* up, Transform&& transform) {
  constexpr int CB = 16;
  const int64_t Mr = gemm::round_up(g.O, MR), C = g.C, O = g.O;
  // Lane r's kernel lies r kernels (flipped) or r rows of C kernels past lane 0's.
  const int64_t lane_step = flipped ? 9 : 9 * C, c_step = flipped ? 9 * O : 9;
  const __m512i idx = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                         _mm512_set1_epi32(static_cast<int>(lane_step)));
  constexpr __mmask16 kPanel = static_cast<__mmask16>((1u << MR) - 1);
#pragma omp for schedule(static)
  for (int64_t p = 0; p < Mr / MR; ++p) {
    alignas(64) float stage[P][CB * MR];
    const int64_t rows = std::min<int64_t>(MR, O - p * MR);
    const __mmask16 live = static_cast<__mmask16>((1u << rows) - 1);
    const float* w0 = w + p * MR * lane_step;
    for (int64_t c0 = 0; c0 < C; c0 += CB) {
      const int64_t cb = std::min<int64_t>(CB, C - c0);
      for (int64_t cc = 0; cc < cb; ++cc) {
        const float* base = w0 + (c0 + cc) * c_step;
        __m512 k[9], u[P];
        for (int e = 0; e < 9; ++e)
          k[e] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), live, idx, base + (flipped ? 8 - e : e), 4);
        transform(k, u);
        for (int xi = 0; xi < P; ++xi) _mm512_mask_storeu_ps(&stage[xi][cc * MR], kPanel, u[xi]);
      }
      for (int xi = 0; xi < P; ++xi)
        std::copy(stage[xi], stage[xi] + cb * MR, up + (xi * Mr + p * MR) * C + c0 * MR);
    }
  }
}

// Images [0, count) of x into y for a tile size of P positions whose patches have the geometry
// pg; of their blocks of NR tiles, those numbered part mod parts (parts > 1: threads sharing
// images too few to go round). Blocks go BW at a time (two when a thread has the images to
// itself): each panel of transformed kernels, read from beyond L2 when there are many, serves
// BW blocks. Per pass: input(pt, grp, xp, c, v) loads and transforms channel c's patches of 16
// tiles into v[P], stored as V [P][BW][C][NR] (the GEMM's packed B); P kernel sweeps make
// M [P][BW][O][NR]; output(grp, yo, m, b) turns m[P] of output channel o back into outputs plus
// bias b and stores them at yo (channel o of the pass's first image). The P planes of V and of M
// are written (read) together: they lie one cache line more than a multiple of 4 KiB apart.
template <int MR, int P, class Input, class Output>
void images(const Conv2dGeom& g, const Conv2dGeom& pg, const float* x, const float* up, const float* bias, float* y,
            int64_t count, int part, int parts, Input&& input, Output&& output) {
  const conv_pack::Cols cs(pg, conv_pack::krow_table(pg));
  const PaddedTiles pt = padded_tiles(g, pg);
  const int64_t C = g.C, O = g.O, Mr = gemm::round_up(O, MR), t_img = pg.Ho * pg.Wo;
  const int64_t in_sz = C * g.H * g.W, out_sz = O * g.Ho * g.Wo;
  constexpr int64_t NR = gemm::NR;
  const int64_t BW = parts == 1 ? 2 : 1, pass = BW * NR;
  // Images per chunk: enough for a pass when images are small.
  const int64_t ipb = std::min(count, std::max<int64_t>(1, (pass + t_img - 1) / t_img));
  const int64_t vplane = BW * C * NR + 16, mplane = BW * Mr * NR + 16;
  float* vbuf = gemm::thread_buffer(0, P * (vplane + mplane));
  float* mbuf = vbuf + P * vplane;
  float* xbuf = gemm::thread_buffer(1, pt.buffer_floats(ipb));
  std::fill(xbuf, xbuf + pt.buffer_floats(ipb), 0.0f);  // the padding; pad_image writes only the interior
  float* xp = pt.first_image(xbuf);
  int64_t block = 0;
  for (int64_t n0 = 0; n0 < count; n0 += ipb) {
    const int64_t imgs = std::min(ipb, count - n0), tiles = imgs * t_img;
    for (int64_t i = 0; i < imgs; ++i) pad_image(g, pt, x + (n0 + i) * in_sz, xp + i * pt.img_sz);
    for (int64_t tb = 0; tb < tiles; tb += pass) {
      if (block++ % parts != part) continue;
      const int64_t nt = std::min<int64_t>(pass, tiles - tb), nb = (nt + NR - 1) / NR;
      Group16 grp[4];
      for (int h = 0; h < 2 * nb; ++h)
        grp[h] = conv_pack::make_group(cs, tb + 16 * h, std::clamp<int64_t>(nt - 16 * h, 0, 16));
      for (int64_t c = 0; c < C; ++c)
        for (int h = 0; h < 2 * nb; ++h) {
          __m512 v[P];
          input(pt, grp[h], xp, c, v);
          float* dst = vbuf + ((h / 2) * C + c) * NR + (h % 2) * 16;
          for (int xi = 0; xi < P; ++xi) _mm512_store_ps(dst + xi * vplane, v[xi]);
        }
      for (int xi = 0; xi < P; ++xi)
        for (int64_t ir = 0; ir < O; ir += MR)
          for (int64_t q = 0; q < nb; ++q)
            gemm::kernel<MR>(C, up + (xi * Mr + ir) * C, vbuf + xi * vplane + q * C * NR,
                             mbuf + xi * mplane + (q * Mr + ir) * NR, NR, 1.0f, 0.0f,
                             static_cast<int>(std::min<int64_t>(MR, O - ir)), NR);
      for (int64_t o = 0; o < O; ++o) {
        const __m512 b = _mm512_set1_ps(bias ? bias[o] : 0.0f);
        float* yo = y + n0 * out_sz + o * g.Ho * g.Wo;
        for (int h = 0; h < 2 * nb; ++h) {
          if (!grp[h].n) continue;
          const float* src = mbuf + ((h / 2) * Mr + o) * NR + (h % 2) * 16;
          __m512 m[P];
          for (int xi = 0; xi < P; ++xi) m[xi] = _mm512_load_ps(src + xi * mplane);
          output(grp[h], yo, m, b);
        }
      }
    }
  }
}

// Runs a Winograd convolution (either tile size) on the convolution's threads, MR chosen from
// O (12 from 256 output channels: a taller kernel loads fewer tile vectors per multiply, and
// the panels past O waste at most a few percent there): transform(mr, up) makes the
// `positions` planes of transformed kernels into a buffer the threads share (and ends in a
// barrier), then images(mr, x, up, y, count, part, parts) takes each thread's whole images or,
// when they do not split evenly, blocks of NR tiles round-robin.
template <class Transform, class Images>
void run_on_threads(const Conv2dGeom& g, int64_t positions, const float* x, float* y, Transform&& transform,
                    Images&& images) {
  const int64_t in_sz = g.C * g.H * g.W, out_sz = g.O * g.Ho * g.Wo;
  auto run = [&](auto mr) {
    constexpr int MR = decltype(mr)::value;
    thread_local std::vector<float> up_mine;
    up_mine.resize(positions * gemm::round_up(g.O, MR) * g.C + 16);
    float* up = up_mine.data();
    const int T = conv_split::threads(g);
#pragma omp parallel num_threads(T) if (T > 1)
    {
      transform(mr, up);
      const int t = omp_get_thread_num(), nt = omp_get_num_threads();
      if (conv_split::splits_evenly(g, nt)) {
        const int64_t n0 = g.N * t / nt, n1 = g.N * (t + 1) / nt;
        if (n1 > n0) images(mr, x + n0 * in_sz, up, y + n0 * out_sz, n1 - n0, 0, 1);
      } else {
        images(mr, x, up, y, g.N, t, nt);
      }
    }
  };
  if (g.O >= 256 || gemm::choose_mr(g.O, 1) == 12)
    run(std::integral_constant<int, 12>{});
  else
    run(std::integral_constant<int, 8>{});
}

}  // namespace signet::cpu::winograd
#endif
