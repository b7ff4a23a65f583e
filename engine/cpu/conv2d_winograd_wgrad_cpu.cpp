// Weight gradient of 3x3 stride-1 convolutions by Winograd F(2x2, 3x3) or F(4x4, 3x3).
//
// The forward tile is Y = A^T [(G g G^T) . V] A with V = B^T d B (conv2d_winograd_cpu.cpp,
// conv2d_winograd43_cpu.cpp). Its adjoint in g, summed over tiles and images:
//   dW[o, c] = G^T S[o, c] G,   S_xi[o, c] = sum_tiles Z_xi[o, tile] V_xi[c, tile],
//   Z = A dY A^T (from each 2x2 or 4x4 block of the output gradient).
// So the 3x3 x 9-pixel correlation becomes P GEMMs O x C reduced over tiles (P = 16 or 36
// positions: 2.25x or 4x fewer multiplies), plus the transforms. Images are padded in chunks
// (one image where it has more tiles than a chunk) and their tiles taken a chunk at a time;
// for each, V and Z are transformed for 16 tiles at a time, transposed in registers into the
// kernel's packed layouts (Vt: [xi][C/32][tile][32], Zp: [xi][O/8][tile][8]) and the P products
// accumulate into a per-thread S [P][O][C]; at the end S is summed over threads and mapped back
// with G^T S G.
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
#include "engine/cpu/gemm_pack.h"

namespace signet::cpu {
namespace {

using conv_pack::Cols;
using conv_pack::Group16;
using gemm::NR;
using namespace winograd;

// dY[u][v] of the group's 16 tiles (lanes) for output channel plane dyo = dy[img 0][o]:
// out[u*2 + v]. Zero outside the output (odd sizes) and in lanes outside the group's runs.
inline void load_dy_tiles(const Conv2dGeom& g, const Group16& grp, const float* dyo, int64_t img_stride,
                          __m512 out[4]) {
  const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  const __m512i odd = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
  for (int e = 0; e < 4; ++e) out[e] = _mm512_setzero_ps();
  for (int r = 0; r < grp.n; ++r) {
    const Group16::Run& run = grp.run[r];
    const __mmask16 lanes = static_cast<__mmask16>(((1u << run.len) - 1) << run.off);
    // float e of a 32-float window is output column 2*run.j + e - 2*run.off
    const int64_t e0 = 2 * run.off;
    const uint32_t m = output_pair_mask(run, g.Wo);
    for (int u = 0; u < 2; ++u) {
      const int64_t oy = 2 * run.i + u;
      if (oy >= g.Ho) continue;
      const float* base = dyo + run.img * img_stride + oy * g.Wo + 2 * run.j - e0;
      const __m512 lo = _mm512_maskz_loadu_ps(static_cast<__mmask16>(m & 0xFFFFu), base);
      const __m512 hi = _mm512_maskz_loadu_ps(static_cast<__mmask16>(m >> 16), base + 16);
      out[u * 2] = _mm512_mask_mov_ps(out[u * 2], lanes, _mm512_permutex2var_ps(lo, even, hi));
      out[u * 2 + 1] = _mm512_mask_mov_ps(out[u * 2 + 1], lanes, _mm512_permutex2var_ps(lo, odd, hi));
    }
  }
}

// Z = A dY A^T for 16 tiles: A = [1 0; 1 1; 1 -1; 0 -1].
inline void transform_dy(const __m512 dy[4], __m512 z[16]) {
  const __m512 t[4][2] = {{dy[0], dy[1]},
                          {_mm512_add_ps(dy[0], dy[2]), _mm512_add_ps(dy[1], dy[3])},
                          {_mm512_sub_ps(dy[0], dy[2]), _mm512_sub_ps(dy[1], dy[3])},
                          {_mm512_sub_ps(_mm512_setzero_ps(), dy[2]), _mm512_sub_ps(_mm512_setzero_ps(), dy[3])}};
  for (int i = 0; i < 4; ++i) {
    z[i * 4 + 0] = t[i][0];
    z[i * 4 + 1] = _mm512_add_ps(t[i][0], t[i][1]);
    z[i * 4 + 2] = _mm512_sub_ps(t[i][0], t[i][1]);
    z[i * 4 + 3] = _mm512_sub_ps(_mm512_setzero_ps(), t[i][1]);
  }
}

// dY[u][v] of the group's 16 tiles (lanes), 4x4 blocks: out[u*4 + v]. As load_dy_tiles, every
// 4th float of a 64-float window (load_patches43's permutes).
inline void load_dy_tiles43(const Conv2dGeom& g, const Group16& grp, const float* dyo, int64_t img_stride,
                            __m512 out[16]) {
  // column v of the blocks: lane l < 8 takes float 4l + v of w[0..1], lane l >= 8 float
  // 4(l - 8) + v of w[2..3]
  __m512i lo[4], hi[4];
  const __m512i lo0 = _mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 28, 24, 20, 16, 12, 8, 4, 0);
  const __m512i hi0 = _mm512_set_epi32(28, 24, 20, 16, 12, 8, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0);
  for (int v = 0; v < 4; ++v) {
    lo[v] = _mm512_add_epi32(lo0, _mm512_set1_epi32(v));
    hi[v] = _mm512_add_epi32(hi0, _mm512_set1_epi32(v));
  }
  for (int e = 0; e < 16; ++e) out[e] = _mm512_setzero_ps();
  for (int r = 0; r < grp.n; ++r) {
    const Group16::Run& run = grp.run[r];
    const __mmask16 lanes = static_cast<__mmask16>(((1u << run.len) - 1) << run.off);
    // float e of the window is output column 4*run.j + e - 4*run.off: the run's, left of Wo
    const int64_t e0 = 4 * run.off, e1 = std::min<int64_t>(4 * (run.off + run.len), e0 + g.Wo - 4 * run.j);
    const Mask64 fm(low_bits(e1 - e0) << e0);
    for (int u = 0; u < 4; ++u) {
      const int64_t oy = 4 * run.i + u;
      if (oy >= g.Ho) continue;
      const float* base = dyo + run.img * img_stride + oy * g.Wo + 4 * run.j - e0;
      __m512 w[4];
      for (int k = 0; k < 4; ++k) w[k] = _mm512_maskz_loadu_ps(fm.q[k], base + 16 * k);
      for (int v = 0; v < 4; ++v) {
        const __m512 both = _mm512_mask_mov_ps(_mm512_permutex2var_ps(w[0], lo[v], w[1]), 0xFF00,
                                               _mm512_permutex2var_ps(w[2], hi[v], w[3]));
        out[u * 4 + v] = _mm512_mask_mov_ps(out[u * 4 + v], lanes, both);
      }
    }
  }
}

// z = A d over four values S apart (z six values Z apart), A = (A^T)^T of F(4x4, 3x3):
// rows [1 0 0 0; 1 1 1 1; 1 -1 1 -1; 1 2 4 8; 1 -2 4 -8; 0 0 0 1].
template <int S, int Z>
inline void dy_1d43(const __m512* d, __m512* z) {
  const __m512 a = _mm512_add_ps(d[0], d[2 * S]), b = _mm512_add_ps(d[1 * S], d[3 * S]);
  const __m512 c = _mm512_fmadd_ps(_mm512_set1_ps(4.0f), d[2 * S], d[0]);
  const __m512 e = _mm512_fmadd_ps(_mm512_set1_ps(8.0f), d[3 * S], _mm512_add_ps(d[1 * S], d[1 * S]));
  z[0] = d[0];
  z[1 * Z] = _mm512_add_ps(a, b);
  z[2 * Z] = _mm512_sub_ps(a, b);
  z[3 * Z] = _mm512_add_ps(c, e);
  z[4 * Z] = _mm512_sub_ps(c, e);
  z[5 * Z] = d[3 * S];
}

// out = G^T s over six values S apart (three values O apart), G of F(4x4, 3x3).
template <int S, int O>
inline void gt_1d43(const __m512* s, __m512* out) {
  const __m512 p12 = _mm512_add_ps(s[1 * S], s[2 * S]), m12 = _mm512_sub_ps(s[1 * S], s[2 * S]);
  const __m512 p34 = _mm512_add_ps(s[3 * S], s[4 * S]), m34 = _mm512_sub_ps(s[3 * S], s[4 * S]);
  const __m512 sixth = _mm512_set1_ps(1.0f / 6);
  out[0] = _mm512_fmadd_ps(_mm512_set1_ps(0.25f), s[0],
                           _mm512_fmsub_ps(_mm512_set1_ps(1.0f / 24), p34, _mm512_mul_ps(sixth, p12)));
  out[1 * O] = _mm512_fmsub_ps(_mm512_set1_ps(1.0f / 12), m34, _mm512_mul_ps(sixth, m12));
  out[2 * O] = _mm512_add_ps(_mm512_mul_ps(sixth, _mm512_sub_ps(p34, p12)), s[5 * S]);
}

// The two tile sizes: P transformed positions; patches(g) the patches' geometry; input() and
// output_grad() load and transform 16 tiles of one channel; weights() maps the summed products
// of 16 kernels (lanes) back to their 9 taps, dW = G^T S G.
struct Tiles23 {
  static constexpr int P = 16;
  // Tiles a sub-chunk: their transformed tiles and the sums stay in L2.
  static constexpr int64_t kChunk = 64;
  static Conv2dGeom patches(const Conv2dGeom& g) { return patch_geom(g); }
  static void input(const PaddedTiles& pt, const Group16& grp, const float* xp, int64_t c, int64_t C, __m512 v[P]) {
    __m512 d[16];
    load_patches(pt, grp, xp, c, C, d);
    transform_input(d, v);
  }
  static void output_grad(const Conv2dGeom& g, const Group16& grp, const float* dyo, int64_t img_stride,
                          __m512 z[P]) {
    __m512 q[4];
    load_dy_tiles(g, grp, dyo, img_stride, q);
    transform_dy(q, z);
  }
  // G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]
  static void weights(const __m512 s[P], __m512 d[9]) {
    const __m512 half = _mm512_set1_ps(0.5f);
    __m512 r[3][4];  // G^T S
    for (int j = 0; j < 4; ++j) {
      const __m512 sum = _mm512_mul_ps(half, _mm512_add_ps(s[4 + j], s[8 + j]));
      r[0][j] = _mm512_add_ps(s[j], sum);
      r[1][j] = _mm512_mul_ps(half, _mm512_sub_ps(s[4 + j], s[8 + j]));
      r[2][j] = _mm512_add_ps(sum, s[12 + j]);
    }
    for (int a = 0; a < 3; ++a) {
      const __m512 sum = _mm512_mul_ps(half, _mm512_add_ps(r[a][1], r[a][2]));
      d[a * 3 + 0] = _mm512_add_ps(r[a][0], sum);
      d[a * 3 + 1] = _mm512_mul_ps(half, _mm512_sub_ps(r[a][1], r[a][2]));
      d[a * 3 + 2] = _mm512_add_ps(sum, r[a][3]);
    }
  }
};

struct Tiles43 {
  static constexpr int P = 36;
  static constexpr int64_t kChunk = 32;
  static Conv2dGeom patches(const Conv2dGeom& g) { return patch_geom43(g); }
  static void input(const PaddedTiles& pt, const Group16& grp, const float* xp, int64_t c, int64_t C, __m512 v[P]) {
    __m512 d[36], t[36];
    load_patches43(pt, grp, xp, c, C, d);
    for (int j = 0; j < 6; ++j) input_1d<6>(d + j, t + j);          // columns: B^T d
    for (int i = 0; i < 6; ++i) input_1d<1>(t + 6 * i, v + 6 * i);  // rows: (B^T d) B
  }
  static void output_grad(const Conv2dGeom& g, const Group16& grp, const float* dyo, int64_t img_stride,
                          __m512 z[P]) {
    __m512 q[16], t[24];
    load_dy_tiles43(g, grp, dyo, img_stride, q);
    for (int v = 0; v < 4; ++v) dy_1d43<4, 4>(q + v, t + v);      // columns: t[r][v] = (A dY)[r][v]
    for (int r = 0; r < 6; ++r) dy_1d43<1, 1>(t + 4 * r, z + 6 * r);  // rows: (A dY) A^T
  }
  static void weights(const __m512 s[P], __m512 d[9]) {
    __m512 r[18];
    for (int j = 0; j < 6; ++j) gt_1d43<6, 6>(s + j, r + j);      // r[a][j] = (G^T S)[a][j]
    for (int a = 0; a < 3; ++a) gt_1d43<1, 1>(r + 6 * a, d + 3 * a);  // (G^T S) G
  }
};

struct Buffers {
  std::vector<float> Zp, stage;
};

// S [P][O][C] += (or =, first) the products of images [0, count) of x / dy.
template <class Tiles>
void accumulate_images(const Conv2dGeom& g, const float* x, const float* dy, int64_t count, float* S) {
  constexpr int P = Tiles::P;
  constexpr int64_t kChunkTiles = Tiles::kChunk;
  const Conv2dGeom pg = Tiles::patches(g);
  const Cols cs(pg, conv_pack::krow_table(pg));
  const PaddedTiles pt = padded_tiles(g, pg);
  const int64_t C = g.C, O = g.O, Cp = gemm::round_up(C, NR), t_img = pg.Ho * pg.Wo;
  const int64_t ipc = std::min(count, std::max<int64_t>(1, kChunkTiles / t_img));  // images per chunk
  // A chunk's images are padded together; their tiles go through the transforms and products
  // kChunkTiles at a time, so that Vt, Zp and S stay in L2 when an image has more tiles.
  const int64_t kt_max = gemm::round_up(std::min(ipc * t_img, kChunkTiles), 16);
  const int64_t in_sz = C * g.H * g.W, out_sz = O * g.Ho * g.Wo;
  // The P planes (one a position xi) are written together, a tile's worth each: one cache line
  // more than their size apart, so that they do not share the cache's sets when the size is a
  // multiple of 4 KiB.
  const int64_t vplane = Cp * kt_max + 16, zplane = O * kt_max + 16;
  thread_local Buffers b;
  b.Zp.resize(P * zplane);
  b.stage.resize(P * 16 * 16);
  float* Vt = gemm::thread_buffer(0, P * vplane);
  float* xbuf = gemm::thread_buffer(1, pt.buffer_floats(ipc));
  // Channels past C (to a whole panel of NR) stay zero; the transforms write all the others.
  if (Cp != C) std::fill(Vt, Vt + P * vplane, 0.0f);
  std::fill(xbuf, xbuf + pt.buffer_floats(ipc), 0.0f);  // the padding; pad_image writes only the interior
  float* xp = pt.first_image(xbuf);
  float* stage = b.stage.data();  // [xi][16][16], transposed into the packed layouts
  bool first = true;
  for (int64_t n0 = 0; n0 < count; n0 += ipc) {
    const int64_t imgs = std::min(ipc, count - n0), tiles = imgs * t_img;
    for (int64_t i = 0; i < imgs; ++i) pad_image(g, pt, x + (n0 + i) * in_sz, xp + i * pt.img_sz);
    for (int64_t s0 = 0; s0 < tiles; s0 += kt_max, first = false) {
      const int64_t sub = std::min(kt_max, tiles - s0), kt = gemm::round_up(sub, 16);
      for (int64_t tg = 0; tg < kt; tg += 16) {
        const Group16 grp = conv_pack::make_group(cs, s0 + tg, std::min<int64_t>(16, sub - tg));
        for (int64_t c0 = 0; c0 < C; c0 += 16) {  // V, 16 channels x 16 tiles at a time
          for (int cc = 0; cc < 16; ++cc) {
            __m512 v[P];
            if (c0 + cc < C) {
              Tiles::input(pt, grp, xp, c0 + cc, C, v);
            } else {
              for (int e = 0; e < P; ++e) v[e] = _mm512_setzero_ps();
            }
            for (int xi = 0; xi < P; ++xi) _mm512_storeu_ps(stage + (xi * 16 + cc) * 16, v[xi]);
          }
          for (int xi = 0; xi < P; ++xi) {
            __m512 r[16];
            for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(stage + (xi * 16 + i) * 16);
            gemm::transpose16(r);  // r[t] = the 16 channels of tile t
            float* dst = Vt + xi * vplane + (c0 / NR * NR) * kt_max + tg * NR + c0 % NR;
            for (int t = 0; t < 16; ++t) _mm512_storeu_ps(dst + t * NR, r[t]);
          }
        }
        for (int64_t o0 = 0; o0 < O; o0 += 16) {  // Z, 16 output channels x 16 tiles
          for (int oo = 0; oo < 16; ++oo) {
            __m512 z[P];
            Tiles::output_grad(g, grp, dy + n0 * out_sz + (o0 + oo) * g.Ho * g.Wo, out_sz, z);
            for (int xi = 0; xi < P; ++xi) _mm512_storeu_ps(stage + (xi * 16 + oo) * 16, z[xi]);
          }
          for (int xi = 0; xi < P; ++xi) {
            __m512 r[16];
            for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(stage + (xi * 16 + i) * 16);
            gemm::transpose16(r);  // r[t] = the 16 output channels of tile t
            float* p0 = b.Zp.data() + xi * zplane + o0 * kt_max + tg * 8;
            float* p1 = p0 + 8 * kt_max;  // the next panel of 8 channels
            for (int t = 0; t < 16; ++t) {
              _mm256_storeu_ps(p0 + t * 8, _mm512_castps512_ps256(r[t]));
              _mm256_storeu_ps(p1 + t * 8, _mm512_extractf32x8_ps(r[t], 1));
            }
          }
        }
      }
      for (int xi = 0; xi < P; ++xi)
        for (int64_t o = 0; o < O; o += 8)
          for (int64_t q = 0; q < C; q += NR)
            gemm::kernel<8>(kt, b.Zp.data() + xi * zplane + o * kt_max, Vt + xi * vplane + q * kt_max,
                            S + (xi * O + o) * C + q, C, 1.0f, first ? 0.0f : 1.0f, 8,
                            static_cast<int>(std::min<int64_t>(NR, C - q)));
    }
  }
  if (count == 0) std::fill(S, S + P * O * C, 0.0f);
}

}  // namespace

bool conv2d_winograd_weight_applies(const Conv2dGeom& g) {
  // The transposes take channels 16 at a time. Below 32 channels the transforms cost more than
  // the saved multiplies (bench_conv.cpp times the paper models' layers both ways,
  // SIGNET_WINOGRAD=0 for the direct products).
  // Images of at least 8x8 outputs: at 4x4 (resnet50) it only breaks even.
  return conv2d_winograd_applies(g) && conv_split::splits_evenly(g, conv_split::threads(g)) && g.Ho >= 8 &&
         g.Wo >= 8 && g.O % 16 == 0 && g.C % 16 == 0 && g.C >= 32 && g.O >= 32;
}

namespace {
template <class Tiles>
void weight_gradient(const Conv2dGeom& g, const float* dy, const float* x, float* dw) {
  constexpr int P = Tiles::P;
  const int64_t in_sz = g.C * g.H * g.W, out_sz = g.O * g.Ho * g.Wo, OC = g.O * g.C;
  const int T = conv_split::threads(g);
  std::vector<float*> parts(T, nullptr);
#pragma omp parallel num_threads(T) if (T > 1)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    thread_local std::vector<float> S;
    S.resize(P * OC);
    parts[t] = S.data();
    const int64_t n0 = g.N * t / nt, n1 = g.N * (t + 1) / nt;
    accumulate_images<Tiles>(g, x + n0 * in_sz, dy + n0 * out_sz, n1 - n0, S.data());
#pragma omp barrier
    // dW[o, c] = G^T (sum over threads of S[., o, c]) G for 16 kernels (o, c) at a time (lanes;
    // O is a multiple of 16), scattered to their 9 taps.
    const __m512i nine = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                            _mm512_set1_epi32(9));
#pragma omp for schedule(static)
    for (int64_t oc = 0; oc < OC; oc += 16) {
      __m512 s[P], d[9];
      for (int xi = 0; xi < P; ++xi) {
        __m512 v = _mm512_loadu_ps(parts[0] + xi * OC + oc);
        for (int p = 1; p < nt; ++p) v = _mm512_add_ps(v, _mm512_loadu_ps(parts[p] + xi * OC + oc));
        s[xi] = v;
      }
      Tiles::weights(s, d);
      for (int k = 0; k < 9; ++k) _mm512_i32scatter_ps(dw + oc * 9 + k, nine, d[k], 4);
    }
  }
}
}  // namespace

bool conv2d_winograd_weight43_applies(const Conv2dGeom& g) {
  // Where the 4x4 tiles waste few outputs (as the forward's rule), and with a bound on the
  // 36 sums a kernel each thread keeps (S: 36 O C floats, 9 MiB at 256 x 256 channels).
  const int64_t t4 = ((g.Ho + 3) / 4) * ((g.Wo + 3) / 4), t2 = ((g.Ho + 1) / 2) * ((g.Wo + 1) / 2);
  return 4 * 36 * t4 <= 3 * 16 * t2 && 36 * g.O * g.C * int64_t{sizeof(float)} <= (int64_t{1} << 24);
}

void conv2d_winograd_weight23(const Conv2dGeom& g, const float* dy, const float* x, float* dw) {
  weight_gradient<Tiles23>(g, dy, x, dw);
}

void conv2d_winograd_weight43(const Conv2dGeom& g, const float* dy, const float* x, float* dw) {
  weight_gradient<Tiles43>(g, dy, x, dw);
}

void conv2d_winograd_weight(const Conv2dGeom& g, const float* dy, const float* x, float* dw) {
  if (conv2d_winograd_weight43_applies(g)) return conv2d_winograd_weight43(g, dy, x, dw);
  conv2d_winograd_weight23(g, dy, x, dw);
}

}  // namespace signet::cpu
#endif
