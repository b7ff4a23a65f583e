// Stride-1 convolutions as GEMMs that read the im2col matrix in place (no packing of it).
//
// Pad the image once into xp [C, Hp, Wp] (Hp = H + 2 ph, Wp = W + 2 pw) and compute the output
// over padded-width rows: column p' = i*Wp + j, j < Wp, of which j < Wo are real and the rest
// are discarded. Then row k = (c, a, b) of the im2col matrix is xp itself shifted by
// koff[k] = c*Hp*Wp + a*Wp + b:  X[k, p'] = xp[koff[k] + p'], so the register-tile kernel
// (gemm_tile_kernel.h) loads B rows straight from xp, and for the weight gradient broadcasts A
// values straight from it. Packing the im2col matrix, which costs about as much as the FMAs
// when the layer has few output channels (measured: cifar10-cnn's 64-channel layers ran at
// 38% of the roof with packed B), disappears; the price is the discarded columns,
// (Wp - Wo) / Wo = (kw - 1) / Wo of the work (3x3: 6% at 32x32, 12% at 16x16, 25% at 8x8).
//
//   forward          yp[o, p']  = sum_k W[o, k] xp[koff[k] + p']           (A = W packed)
//   weight gradient  dW^T[k, o] = sum_p' xp[koff[k] + p'] dyp[o, p']       (B = dyp^T packed)
// (The input gradient of a stride-1 layer is a forward convolution: conv2d_gemm_cpu.cpp.)
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "engine/cpu/conv2d_direct.h"
#include "engine/cpu/conv2d_threads.h"
#include "engine/cpu/gemm_blocked.h"
#include "engine/cpu/gemm_pack.h"
#include "engine/cpu/gemm_tile_kernel.h"

#if SIGNET_HAVE_AVX512_GEMM
namespace signet::cpu {
namespace {

using gemm::NR;
using namespace conv_split;

// k-block of the forward product. B is read in place, so a long block costs no packing
// buffer: it only has to keep the tile's image rows in L1 (kc/9 channels x 3 rows x ~34 floats
// for 3x3) and saves the C round trips between blocks.
constexpr int64_t kDirectKcMax = 512;  // measured: 256 and 1024 within noise of 512

struct Padded {
  int64_t Hp, Wp, Pp, K, xp_size;
  std::vector<int64_t>* koff;
};

// Per-thread scratch that survives between calls (steady-state steps allocate nothing).
struct Scratch {
  std::vector<int64_t> koff;
};
Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

Padded padded_geom(const Conv2dGeom& g) {
  Padded p;
  p.Hp = g.H + 2 * g.ph;
  p.Wp = g.W + 2 * g.pw;
  p.Pp = g.Ho * p.Wp;
  p.K = g.C * g.kh * g.kw;
  // The last tile reads up to 31 floats past the last real column, plus kw-1 (see koff).
  p.xp_size = g.C * p.Hp * p.Wp + g.kw + 64;
  std::vector<int64_t>& ko = scratch().koff;
  ko.resize(std::max<int64_t>(p.K, 1));
  for (int64_t c = 0, k = 0; c < g.C; ++c)
    for (int64_t a = 0; a < g.kh; ++a)
      for (int64_t b = 0; b < g.kw; ++b) ko[k++] = (c * p.Hp + a) * p.Wp + b;
  p.koff = &ko;
  return p;
}

// xp's interior = image xn (the border and the slack stay as zeroed at first use).
void pad_into(const Conv2dGeom& g, const Padded& p, const float* xn, float* xp) {
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t i = 0; i < g.H; ++i)
      std::memcpy(xp + (c * p.Hp + i + g.ph) * p.Wp + g.pw, xn + (c * g.H + i) * g.W, g.W * sizeof(float));
}

template <int MR>
void forward_images(const Conv2dGeom& g, const float* x, const float* w, const float* bias, float* y,
                    int64_t count) {
  const Padded p = padded_geom(g);
  const int64_t K = p.K, O = g.O, Mr = gemm::round_up(O, MR);
  const int64_t kc_blk = gemm::balanced_block(std::max<int64_t>(K, 1), kDirectKcMax, 8);
  const int64_t* koff = p.koff->data();
  // All of W, packed once: k-block pc occupies Mr * kc floats from Mr * pc.
  float* wpack = gemm::thread_buffer(1, std::max<int64_t>(Mr * K, 1));
  for (int64_t pc = 0; pc < K; pc += kc_blk)
    gemm::pack_a_rowmajor<MR>(false, w, K, 0, pc, O, std::min(kc_blk, K - pc), wpack + Mr * pc);
  // Output rows a multiple of 32 wide: tiles are whole pieces of output rows, stored in place
  // (no discarded columns, no yp buffer). Otherwise tiles run over padded-width rows into yp.
  const bool row_tiles = g.Wo % NR == 0;
  const int64_t P = g.Ho * g.Wo;
  float* xp = gemm::thread_buffer(0, p.xp_size + (row_tiles ? 0 : O * p.Pp));
  float* yp = xp + p.xp_size;
  std::fill(xp, xp + p.xp_size, 0.0f);
  for (int64_t n = 0; n < count; ++n) {
    pad_into(g, p, x + n * g.C * g.H * g.W, xp);
    float* yn = y + n * O * P;
    if (K == 0) {
      for (int64_t o = 0; o < O; ++o) std::fill(yn + o * P, yn + (o + 1) * P, bias ? bias[o] : 0.0f);
      continue;
    }
    for (int64_t pc = 0; pc < K; pc += kc_blk) {
      const int64_t kc = std::min(kc_blk, K - pc);
      const float* ap = wpack + Mr * pc;
      const float beta = pc == 0 ? 0.0f : 1.0f;
      if (row_tiles) {
        for (int64_t i = 0; i < g.Ho; ++i)
          for (int64_t j = 0; j < g.Wo; j += NR)
            for (int64_t ir = 0; ir < O; ir += MR) {
              const int mr = static_cast<int>(std::min<int64_t>(MR, O - ir));
              gemm::tile_kernel<MR, false, true>(kc, ap + ir * kc, nullptr, xp + i * p.Wp + j, koff + pc,
                                                 yn + ir * P + i * g.Wo + j, P, 1.0f, beta, mr, NR,
                                                 bias && pc == 0 ? bias + ir : nullptr);
            }
        continue;
      }
      for (int64_t jr = 0; jr < p.Pp; jr += NR) {
        const int nr = static_cast<int>(std::min<int64_t>(NR, p.Pp - jr));
        for (int64_t ir = 0; ir < O; ir += MR) {
          const int mr = static_cast<int>(std::min<int64_t>(MR, O - ir));
          gemm::tile_kernel<MR, false, true>(kc, ap + ir * kc, nullptr, xp + jr, koff + pc, yp + ir * p.Pp + jr,
                                             p.Pp, 1.0f, beta, mr, nr);
        }
      }
    }
    if (row_tiles) continue;
    for (int64_t o = 0; o < O; ++o) {
      const float b = bias ? bias[o] : 0.0f;
      for (int64_t i = 0; i < g.Ho; ++i) {
        const float* s = yp + o * p.Pp + i * p.Wp;
        float* d = yn + (o * g.Ho + i) * g.Wo;
#pragma omp simd
        for (int64_t j = 0; j < g.Wo; ++j) d[j] = s[j] + b;
      }
    }
  }
}

// accT [K, O] = sum over the images of X_n dyp_n^T (overwritten).
template <int MR>
void weight_images(const Conv2dGeom& g, const float* dy, const float* x, float* accT, int64_t count) {
  const Padded p = padded_geom(g);
  const int64_t K = p.K, O = g.O, Oq = gemm::round_up(O, NR), P = g.Ho * g.Wo;
  const int64_t kc_blk = gemm::balanced_block(std::max<int64_t>(p.Pp, 1), gemm::kKcMax, 8);
  const int64_t* koff = p.koff->data();
  float* xp = gemm::thread_buffer(0, p.xp_size);
  // dyp^T packed as O/32 panels [Pp][32]: dst[q][p'][oo] = dy[q*32 + oo, p'] (0 in the
  // discarded columns and past O).
  float* bpack = gemm::thread_buffer(1, std::max<int64_t>(Oq * p.Pp, 1));
  std::fill(xp, xp + p.xp_size, 0.0f);
  std::fill(bpack, bpack + Oq * p.Pp, 0.0f);  // the discarded columns stay zero
  if (count == 0 || p.Pp == 0) std::fill(accT, accT + K * O, 0.0f);
  for (int64_t n = 0; n < count; ++n) {
    pad_into(g, p, x + n * g.C * g.H * g.W, xp);
    const float* dyn = dy + n * O * P;
    // 16 channels x one output row at a time, transposed in registers.
    for (int64_t o = 0; o < O; o += 16) {
      const int rows = static_cast<int>(std::min<int64_t>(16, O - o));
      float* panel = bpack + (o / NR) * p.Pp * NR + o % NR;
      for (int64_t i = 0; i < g.Ho; ++i)
        gemm::transpose_block(dyn + o * P + i * g.Wo, P, rows, g.Wo, panel + i * p.Wp * NR, NR, 16);
    }
    for (int64_t pc = 0; pc < p.Pp; pc += kc_blk) {
      const int64_t kc = std::min(kc_blk, p.Pp - pc);
      const float beta = n == 0 && pc == 0 ? 0.0f : 1.0f;
      for (int64_t q = 0; q < Oq; q += NR) {
        const int nr = static_cast<int>(std::min<int64_t>(NR, O - q));
        const float* bp = bpack + q * p.Pp + pc * NR;
        for (int64_t ir = 0; ir < K; ir += MR) {
          const int mr = static_cast<int>(std::min<int64_t>(MR, K - ir));
          int64_t aoff[MR];
          for (int r = 0; r < MR; ++r) aoff[r] = koff[ir + (r < mr ? r : 0)] + pc;
          gemm::tile_kernel<MR, true, false>(kc, xp, aoff, bp, nullptr, accT + ir * O + q, O, 1.0f, beta, mr, nr);
        }
      }
    }
  }
}

}  // namespace

bool conv2d_direct_applies(const Conv2dGeom& g) {
  if (g.N == 0 || g.Ho * g.Wo == 0) return false;
  // One GEMM per image over Ho*Wp columns in tiles of 32, of which Ho*Wo are real: use it when
  // at least 85% of the computed columns are (3x3: 16x16 and larger; 1x1: 8x8 and larger), or
  // 75% for up to 128 output channels, where packing the im2col matrix costs the packed path
  // most. Measured (bench_conv.cpp, 3x3, 2 threads): wrn-16-4's 256-channel 8x8 layer (67%
  // real) ran at 58% of the roof here against 73% packed; cifar10-cnn's 64-channel 16x16
  // layers at 77% here against 38-45% packed; resnet50's 1x1 convs at 2x2 (13% real) 8x slower.
  if (g.sh != 1 || g.sw != 1 || !splits_evenly(g, threads(g))) return false;
  // (Rows a multiple of 32 wide are tiled exactly: see forward_images.)
  const double real = g.Wo % NR == 0 ? 1.0
                                     : static_cast<double>(g.Ho * g.Wo) /
                                           static_cast<double>(gemm::round_up(g.Ho * (g.W + 2 * g.pw), NR));
  return real >= 0.85 || (real >= 0.75 && g.O <= 128);
}

void conv2d_direct(const Conv2dGeom& g, const float* x, const float* w, const float* bias, float* y) {
  const int64_t in_sz = g.C * g.H * g.W, out_sz = g.O * g.Ho * g.Wo;
  with_mr(g.O, 1, [&](auto mr) {
    constexpr int MR = decltype(mr)::value;
    for_each_share(g, threads(g), [&](int64_t n0, int64_t count, int) {
      if (count > 0) forward_images<MR>(g, x + n0 * in_sz, w, bias, y + n0 * out_sz, count);
    });
  });
}

void conv2d_direct_backward_weight(const Conv2dGeom& g, const float* dy, const float* x, float* dw) {
  const int64_t K = g.C * g.kh * g.kw, wsz = g.O * K;
  const int64_t in_sz = g.C * g.H * g.W, out_sz = g.O * g.Ho * g.Wo;
  const int T = threads(g);
  thread_local std::vector<float> accs_mine;
  accs_mine.resize(std::max<int64_t>(T * wsz, 1));
  float* accs = accs_mine.data();  // (a thread_local named inside the region is the worker's own)
  int team = 1;
  with_mr(K, 1, [&](auto mr) {
    constexpr int MR = decltype(mr)::value;
    team = for_each_share(g, T, [&](int64_t n0, int64_t count, int t) {
      weight_images<MR>(g, dy + n0 * out_sz, x + n0 * in_sz, accs + t * wsz, count);
    });
  });
  // dw[o, k] = sum over threads, in thread order, of accT[k, o].
  for (int64_t o = 0; o < g.O; ++o)
    for (int64_t k = 0; k < K; ++k) {
      float s = 0.0f;
      for (int t = 0; t < team; ++t) s += accs[t * wsz + k * g.O + o];
      dw[o * K + k] = s;
    }
}

}  // namespace signet::cpu
#endif
