// Convolutions with at most 4 output pixels per image (conv2d_tiny.h).
//
// Sixteen images share a vector lane each: the input is first rearranged as
// xt[c][pixel][image] (a few hundred KiB), so that one load gives a pixel of a channel for all
// sixteen. Then, for R output channels o at once, tap by tap,
//   y[., o, q] += w[o, c, t] * xt[c][pixel(q, t)]   over c, for the output pixels q that tap t
// meets a real pixel from, with the R x P sums in registers for the sweep over c: each weight is
// broadcast once and used by every output pixel its tap reaches, and each input vector by R
// FMAs. Nothing is computed for the padding; the weights are read in place (the tile's R rows
// stay in L2 across its taps).
#include "engine/cpu/conv2d_tiny.h"

#if SIGNET_HAVE_AVX512_GEMM
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <array>
#include <utility>
#include <vector>

#include "engine/cpu/conv2d_threads.h"
#include "engine/cpu/gemm_pack.h"

namespace signet::cpu {
namespace {

constexpr int kLanes = 16;
constexpr int kMaxPixels = 4;
constexpr int kMaxTaps = 25;

struct Taps {
  int64_t kk;
  int pix[kMaxTaps][kMaxPixels];  // input pixel that output pixel q meets through tap t, or -1
  unsigned mask[kMaxTaps];        // bit q: pix[t][q] is a real pixel
};

Taps taps_of(const Conv2dGeom& g) {
  Taps tb{};
  tb.kk = g.kh * g.kw;
  const int64_t P = g.Ho * g.Wo;
  for (int64_t t = 0; t < tb.kk; ++t) {
    for (int64_t q = 0; q < kMaxPixels; ++q) {
      const int64_t ih = q / g.Wo * g.sh - g.ph + t / g.kw, iw = q % g.Wo * g.sw - g.pw + t % g.kw;
      const bool real = q < P && ih >= 0 && ih < g.H && iw >= 0 && iw < g.W;
      tb.pix[t][q] = real ? static_cast<int>(ih * g.W + iw) : -1;
      tb.mask[t] |= (real ? 1u : 0u) << q;
    }
  }
  return tb;
}

// One tap over the whole reduction for R rows: acc[r][q] += w(r, c, tap) xt[c][pix[q]] for the
// output pixels q in M (the ones this tap meets a real pixel for), c = 0..red-1. The set is a
// template argument so that the loop over c has no table lookups or branches.
template <int R, int P, unsigned M>
void sweep(float* acc, const float* const* wrow, int64_t red_stride, const float* xt, int64_t hw, const int* pix,
           int64_t red) {
  __m512 a[R][P];
  const float* xq[P];
  for (int q = 0; q < P; ++q) {
    if (!((M >> q) & 1u)) continue;
    xq[q] = xt + pix[q] * kLanes;
    for (int r = 0; r < R; ++r) a[r][q] = _mm512_load_ps(acc + (r * P + q) * kLanes);
  }
  const int64_t xstep = hw * kLanes;
  for (int64_t c = 0; c < red; ++c) {
    __m512 b[R];
    for (int r = 0; r < R; ++r) b[r] = _mm512_set1_ps(wrow[r][c * red_stride]);
    for (int q = 0; q < P; ++q) {
      if (!((M >> q) & 1u)) continue;
      const __m512 xv = _mm512_loadu_ps(xq[q] + c * xstep);
      for (int r = 0; r < R; ++r) a[r][q] = _mm512_fmadd_ps(b[r], xv, a[r][q]);
    }
  }
  for (int q = 0; q < P; ++q) {
    if (!((M >> q) & 1u)) continue;
    for (int r = 0; r < R; ++r) _mm512_store_ps(acc + (r * P + q) * kLanes, a[r][q]);
  }
}

template <int R, int P, unsigned... Ms>
constexpr auto sweeps(std::integer_sequence<unsigned, Ms...>) {
  using Fn = void (*)(float*, const float* const*, int64_t, const float*, int64_t, const int*, int64_t);
  return std::array<Fn, sizeof...(Ms)>{sweep<R, P, Ms>...};
}

// The sweeps of every tap that meets a real pixel for some output pixel, for R rows; after each,
// done(t, mask) (the sums are in out [R][P][16]: kept across the taps, or zeroed before each
// when `fresh`).
template <int R, int P, class Done>
void taps_sweep(const Taps& tb, const float* w, const int64_t* row_off, int64_t red_stride, int64_t red,
                const float* xt, int64_t xstride, const int (*pix)[kMaxPixels], bool fresh, float* out, Done&& done) {
  static constexpr auto kSweeps = sweeps<R, P>(std::make_integer_sequence<unsigned, 1u << P>{});
  if (!fresh) std::fill(out, out + R * P * kLanes, 0.0f);
  for (int64_t t = 0; t < tb.kk; ++t) {
    const unsigned mask = tb.mask[t];
    if (!mask) continue;
    if (fresh) std::fill(out, out + R * P * kLanes, 0.0f);
    const float* wrow[R];
    for (int r = 0; r < R; ++r) wrow[r] = w + row_off[r] + t;
    kSweeps[mask](out, wrow, red_stride, xt, xstride, pix[t], red);
    done(t, mask);
  }
}

// Rows [begin, end) in tiles of R (then one at a time): body(tile<R or 1>, row0, rows).
template <int P, class Body>
void row_tiles(int64_t begin, int64_t end, Body&& body) {
  constexpr int R = P == 1 ? 12 : P == 2 ? 8 : 6;  // R x P sums, R broadcasts and a load: 32 registers
  int64_t r0 = begin;
  for (; r0 + R <= end; r0 += R) body(std::integral_constant<int, R>{}, r0);
  for (; r0 < end; ++r0) body(std::integral_constant<int, 1>{}, r0);
}

template <class Fn>
void with_pixels(int64_t P, Fn&& fn) {
  switch (P) {
    case 1: return fn(std::integral_constant<int, 1>{});
    case 2: return fn(std::integral_constant<int, 2>{});
    case 3: return fn(std::integral_constant<int, 3>{});
    default: return fn(std::integral_constant<int, 4>{});
  }
}

// dst[chunk][e][lane] = src[n0 + lane][e] (zero past the batch), e < per_image: 16 x 16 register
// transposes, blocks of e shared over the team (inside a parallel region).
void to_lanes(const float* src, int64_t N, int64_t per_image, float* dst) {
  constexpr int64_t kBlock = 256;
  const int64_t chunks = (N + kLanes - 1) / kLanes, blocks = (per_image + kBlock - 1) / kBlock;
#pragma omp for schedule(static)
  for (int64_t cb = 0; cb < chunks * blocks; ++cb) {
    const int64_t ch = cb / blocks, e0 = cb % blocks * kBlock, n0 = ch * kLanes;
    gemm::transpose_block(src + n0 * per_image + e0, per_image, static_cast<int>(std::min<int64_t>(kLanes, N - n0)),
                          std::min(kBlock, per_image - e0), dst + (ch * per_image + e0) * kLanes, kLanes, kLanes);
  }
}

// The reverse for `rows` consecutive values e of each of `lanes` images: dst[l * dst_ld + e] =
// src[e][l] (src [rows][16], in L1).
void from_lanes(const float* src, int64_t rows, int64_t lanes, float* dst, int64_t dst_ld) {
  for (int64_t e0 = 0; e0 < rows; e0 += kLanes) {
    const int n = static_cast<int>(std::min<int64_t>(kLanes, rows - e0));
    gemm::transpose_block(src + e0 * kLanes, kLanes, n, lanes, dst + e0, dst_ld, n);
  }
}

}  // namespace

bool conv2d_tiny_applies(const Conv2dGeom& g) {
  const int64_t kk = g.kh * g.kw;
  return g.Ho * g.Wo >= 1 && g.Ho * g.Wo <= kMaxPixels && kk <= kMaxTaps && g.N >= kLanes / 2 && g.C > 0 &&
         g.O > 0;
}

bool conv2d_tiny_backward_input_applies(const Conv2dGeom& g) { return conv2d_tiny_applies(g) && g.kh * g.kw > 1; }

namespace {
// The frame both products share: src [N][per_image] into lanes (chunks of 16 images), then each
// thread takes its share of `rows` in tiles, for every chunk:
//   tile(R, P, row0, the chunk's lanes, n0, images in the chunk)   (R, P: integral_constants).
template <class Tile>
void lanes_and_row_tiles(const Conv2dGeom& g, const float* src, int64_t per_image, int64_t rows, Tile&& tile) {
  const int64_t chunks = (g.N + kLanes - 1) / kLanes, chunk_sz = per_image * kLanes;
  thread_local std::vector<float> lanes_mine;
  lanes_mine.resize(chunks * chunk_sz);
  float* lanes = lanes_mine.data();
  const int T = conv_split::threads(g);
#pragma omp parallel num_threads(T) if (T > 1)
  {
    to_lanes(src, g.N, per_image, lanes);
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    with_pixels(g.Ho * g.Wo, [&](auto p) {
      for (int64_t ch = 0; ch < chunks; ++ch) {
        const int64_t n0 = ch * kLanes, images = std::min<int64_t>(kLanes, g.N - n0);
        row_tiles<decltype(p)::value>(rows * t / nt, rows * (t + 1) / nt, [&](auto r, int64_t row0) {
          tile(r, p, row0, lanes + ch * chunk_sz, n0, images);
        });
      }
    });
  }
}
}  // namespace

// Rows o, reduction c: w[(o C + c) kk + t]; x in lanes, the sums of all taps kept together.
void conv2d_tiny_forward(const Conv2dGeom& g, const float* x, const float* w, const float* bias, float* y) {
  const int64_t hw = g.H * g.W, kk = g.kh * g.kw;
  const Taps tb = taps_of(g);
  lanes_and_row_tiles(g, x, g.C * hw, g.O, [&](auto r_, auto p_, int64_t o, const float* xt, int64_t n0, int64_t images) {
    constexpr int R = decltype(r_)::value, P = decltype(p_)::value;
    alignas(64) float out[R * P * kLanes];
    int64_t off[R];
    for (int r = 0; r < R; ++r) off[r] = (o + r) * g.C * kk;
    taps_sweep<R, P>(tb, w, off, kk, g.C, xt, hw, tb.pix, false, out, [](int64_t, unsigned) {});
    if (bias)
      for (int r = 0; r < R; ++r)
        for (int q = 0; q < P; ++q) {
          float* v = out + (r * P + q) * kLanes;
          _mm512_store_ps(v, _mm512_add_ps(_mm512_load_ps(v), _mm512_set1_ps(bias[o + r])));
        }
    from_lanes(out, R * P, images, y + (n0 * g.O + o) * P, g.O * P);
  });
}

// Rows c, reduction o: w[(o C + c) kk + t]; dy in lanes ([o][q]). Each tap's sums (output pixel
// q) are added onto the input pixel that tap takes q from: dx[., c, pix(q, t)].
void conv2d_tiny_backward_input(const Conv2dGeom& g, const float* dy, const float* w, float* dx) {
  const int64_t hw = g.H * g.W, kk = g.kh * g.kw;
  const Taps tb = taps_of(g);
  int same[kMaxTaps][kMaxPixels];  // dy's lanes are indexed by the output pixel itself
  for (int64_t t = 0; t < kk; ++t)
    for (int q = 0; q < kMaxPixels; ++q) same[t][q] = q;
  lanes_and_row_tiles(g, dy, g.O * g.Ho * g.Wo, g.C, [&](auto r_, auto p_, int64_t c, const float* dyt, int64_t n0,
                                                          int64_t images) {
    constexpr int R = decltype(r_)::value, P = decltype(p_)::value;
    alignas(64) float out[R * P * kLanes];
    thread_local std::vector<float> acc_mine;  // [r][input pixel][lane]
    acc_mine.assign(R * hw * kLanes, 0.0f);
    float* acc = acc_mine.data();
    int64_t off[R];
    for (int r = 0; r < R; ++r) off[r] = (c + r) * kk;
    taps_sweep<R, P>(tb, w, off, g.C * kk, g.O, dyt, P, same, true, out, [&](int64_t tap, unsigned mask) {
      for (int q = 0; q < P; ++q) {
        if (!((mask >> q) & 1u)) continue;
        for (int r = 0; r < R; ++r) {
          float* a = acc + (r * hw + tb.pix[tap][q]) * kLanes;
          _mm512_storeu_ps(a, _mm512_add_ps(_mm512_loadu_ps(a), _mm512_load_ps(out + (r * P + q) * kLanes)));
        }
      }
    });
    from_lanes(acc, R * hw, images, dx + (n0 * g.C + c) * hw, g.C * hw);
  });
}

}  // namespace signet::cpu
#endif
