// Packers that read the im2col matrix X of a convolution straight from the images, for the
// GEMMs of conv2d_gemm_cpu.cpp (see that file for the three products and gemm_blocked.h for
// the micro-panel layouts). Internal to the convolution.
//
// With column stride 1, a row k = (c, a, b) of X over 16 consecutive columns is at most a
// few contiguous runs of the image (one per output row crossed), read with masked AVX-512
// loads that leave the padding lanes zero (load_x16); with stride 2 each run is the even
// floats of a 32-float window (two masked loads and a permute: wrn-16-4's stride-2 layer
// 48 -> 58% of the roof forward). The scalar versions serve other strides and builds
// without AVX-512.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "engine/ops/conv2d.h"
#include "engine/cpu/gemm_blocked.h"
#include "engine/cpu/gemm_pack.h"

#if SIGNET_HAVE_AVX512_GEMM
#include <immintrin.h>
#endif

namespace signet::cpu::conv_pack {

using gemm::NR;
#if SIGNET_HAVE_AVX512_GEMM
using gemm::transpose16;
#endif


using gemm::NR;

// One row k = (c, a, b) of the im2col matrix: channel offset, kernel offsets and the output
// columns [j0, j1) whose input column lies inside the image.
struct KRow {
  int64_t c_off, a, b, j0, j1;
};

inline KRow decode_k(const Conv2dGeom& g, int64_t k) {
  KRow r;
  const int64_t c = k / (g.kh * g.kw);
  r.a = (k / g.kw) % g.kh;
  r.b = k % g.kw;
  r.c_off = c * g.H * g.W;
  const int64_t lo = g.pw - r.b;  // need j*sw >= lo
  r.j0 = lo <= 0 ? 0 : (lo + g.sw - 1) / g.sw;
  const int64_t hi = g.W - 1 + g.pw - r.b;  // need j*sw <= hi
  r.j1 = hi < 0 ? 0 : std::min(g.Wo, hi / g.sw + 1);
  r.j0 = std::min(r.j0, g.Wo);
  r.j1 = std::max(r.j1, r.j0);
  return r;
}

// The decoded rows of X, one table per thread, rebuilt per call (K entries).
inline const KRow* krow_table(const Conv2dGeom& g) {
  thread_local std::vector<KRow> rows;
  const int64_t K = g.C * g.kh * g.kw;
  rows.resize(std::max<int64_t>(K, 1));
  for (int64_t k = 0; k < K; ++k) rows[k] = decode_k(g, k);
  return rows.data();
}

// A float buffer per thread (grown on demand, kept).
inline float* thread_floats(int64_t n) {
  thread_local std::vector<float> buf;
  if (static_cast<int64_t>(buf.size()) < n) buf.resize(n);
  return buf.data();
}

// The columns of one GEMM (the images from some n0 on), and the walks over them.
struct Cols {
  const Conv2dGeom& g;
  int64_t P, in_sz;
  const KRow* rows;  // krow_table(g)
  Cols(const Conv2dGeom& geom, const KRow* table)
      : g(geom), P(geom.Ho * geom.Wo), in_sz(geom.C * geom.H * geom.W), rows(table) {}
  // Calls seg(image, pixel, len, offset) for the runs of columns [col0, col0 + n) inside one
  // image: pixels pixel..pixel+len-1 of `image`, at offset `offset` from col0.
  template <class Seg>
  void for_each_image_run(int64_t col0, int64_t n, Seg&& seg) const {
    int64_t done = 0;
    while (done < n) {
      const int64_t col = col0 + done, img = col / P, p = col % P, len = std::min(n - done, P - p);
      seg(img, p, len, done);
      done += len;
    }
  }
  // Calls seg(image, i, j, len, offset) for the runs of columns [col0, col0 + n) that stay in
  // one output row: columns j..j+len-1 of output row i of `image`, at offset `offset` from col0.
  template <class Seg>
  void for_each_run(int64_t col0, int64_t n, Seg&& seg) const {
    int64_t done = 0;
    while (done < n) {
      const int64_t col = col0 + done, img = col / P, p = col % P, i = p / g.Wo, j = p % g.Wo;
      const int64_t len = std::min(n - done, g.Wo - j);
      seg(img, i, j, len, done);
      done += len;
    }
  }
};

// d[0, len) = X[k, columns j..j+len-1 of output row i] of the image at `xn`.
inline void gather_run(const Conv2dGeom& g, const float* xn, const KRow& r, int64_t i, int64_t j, int64_t len,
                       float* d) {
  const int64_t ih = i * g.sh - g.ph + r.a;
  if (ih < 0 || ih >= g.H) {
    std::fill(d, d + len, 0.0f);
    return;
  }
  const int64_t lo = std::clamp(r.j0, j, j + len), hi = std::clamp(r.j1, lo, j + len);
  const float* src = xn + r.c_off + ih * g.W - g.pw + r.b;  // src[jj*sw] is output column jj
  std::fill(d, d + (lo - j), 0.0f);
  if (g.sw == 1) {
    std::memcpy(d + (lo - j), src + lo, (hi - lo) * sizeof(float));
  } else {
    for (int64_t jj = lo; jj < hi; ++jj) d[jj - j] = src[jj * g.sw];
  }
  std::fill(d + (hi - j), d + len, 0.0f);
}

// X[k, col0 .. col0+n) of the images starting at x (all of them: image index from Cols).
inline void gather_cols(const Cols& cs, const float* x, const KRow& r, int64_t col0, int64_t n, float* d) {
  cs.for_each_run(col0, n, [&](int64_t img, int64_t i, int64_t j, int64_t len, int64_t off) {
    gather_run(cs.g, x + img * cs.in_sz, r, i, j, len, d + off);
  });
}

// ---------------------------------------------------------------- packers
// B = X rows [k0, k0+kc) x columns [j0, j0+nc) (forward), scalar.
inline void pack_x_b_scalar(const Cols& cs, const float* x, int64_t j0, int64_t k0, int64_t nc, int64_t kc, float* dst) {
  for (int64_t q = 0; q < nc; q += NR, dst += kc * NR) {
    const int64_t n = std::min<int64_t>(NR, nc - q);
    for (int64_t k = 0; k < kc; ++k) {
      float* d = dst + k * NR;
      gather_cols(cs, x, cs.rows[k0 + k], j0 + q, n, d);
      std::fill(d + n, d + NR, 0.0f);
    }
  }
}

// B = X^T rows (columns of X) [k0, k0+kc) x rows of X [j0, j0+nc) (weight gradient), scalar.
inline void pack_xt_b_scalar(const Cols& cs, const float* x, int64_t K, int64_t j0, int64_t k0, int64_t nc, int64_t kc,
               float* dst) {
  float* tmp = thread_floats(kc);
  for (int64_t q = 0; q < nc; q += NR, dst += kc * NR) {
    for (int c = 0; c < NR; ++c) {
      float* d = dst + c;
      const int64_t k = j0 + q + c;
      if (q + c >= nc || k >= K) {
        for (int64_t t = 0; t < kc; ++t) d[t * NR] = 0.0f;
        continue;
      }
      gather_cols(cs, x, cs.rows[k], k0, kc, tmp);
      for (int64_t t = 0; t < kc; ++t) d[t * NR] = tmp[t];
    }
  }
}

// B = dy rows (channels) [k0, k0+kc) x columns [j0, j0+nc) (input gradient); dy holds the
// images of cs, [img][O][P].
inline void pack_dy_b(const Cols& cs, const float* dy, int64_t j0, int64_t k0, int64_t nc, int64_t kc, float* dst) {
  const int64_t O = cs.g.O;
  for (int64_t q = 0; q < nc; q += NR, dst += kc * NR) {
    const int64_t n = std::min<int64_t>(NR, nc - q);
    for (int64_t k = 0; k < kc; ++k) {
      float* d = dst + k * NR;
      cs.for_each_image_run(j0 + q, n, [&](int64_t img, int64_t p, int64_t len, int64_t off) {
        std::memcpy(d + off, dy + (img * O + k0 + k) * cs.P + p, len * sizeof(float));
      });
      std::fill(d + n, d + NR, 0.0f);
    }
  }
}

// A = dy rows (channels) [i0, i0+mc) x columns [k0, k0+kc) (weight gradient).
template <int MR>
void pack_dy_a(const Cols& cs, const float* dy, int64_t i0, int64_t k0, int64_t mc, int64_t kc, float* dst) {
  const int64_t O = cs.g.O;
  for (int64_t p0 = 0; p0 < mc; p0 += MR, dst += kc * MR) {
    for (int r = 0; r < MR; ++r) {
      float* d = dst + r;
      if (p0 + r >= mc) {
        for (int64_t t = 0; t < kc; ++t) d[t * MR] = 0.0f;
        continue;
      }
      const int64_t o = i0 + p0 + r;
      cs.for_each_image_run(k0, kc, [&](int64_t img, int64_t p, int64_t len, int64_t off) {
        const float* s = dy + (img * O + o) * cs.P + p;
        for (int64_t t = 0; t < len; ++t) d[(off + t) * MR] = s[t];
      });
    }
  }
}


#if SIGNET_HAVE_AVX512_GEMM
// ---------------------------------------------------------------- AVX-512, unit column stride
// Up to 16 consecutive columns of X, as the runs (one per output row crossed) that each read
// contiguous image memory: lanes [off, off+len) are output columns j..j+len-1 of row i of img.
struct Group16 {
  struct Run {
    int off, len;
    int64_t img, i, j;
  };
  int n = 0;
  Run run[16];
};

inline Group16 make_group(const Cols& cs, int64_t col0, int64_t n) {
  Group16 grp;
  cs.for_each_run(col0, n, [&](int64_t img, int64_t i, int64_t j, int64_t len, int64_t off) {
    grp.run[grp.n++] = {static_cast<int>(off), static_cast<int>(len), img, i, j};
  });
  return grp;
}

// Row k of X over the group's columns (zero in the padding and past the group); sw 1 or 2.
inline __m512 load_x16(const Cols& cs, const Group16& grp, const KRow& kr, const float* x) {
  const Conv2dGeom& g = cs.g;
  __m512 v = _mm512_setzero_ps();
  for (int r = 0; r < grp.n; ++r) {
    const Group16::Run& run = grp.run[r];
    const int64_t ih = run.i * g.sh - g.ph + kr.a;
    if (ih < 0 || ih >= g.H) continue;
    const int64_t lo = std::max(kr.j0, run.j), hi = std::min(kr.j1, run.j + run.len);
    if (hi <= lo) continue;
    const __mmask16 m = static_cast<__mmask16>(((1u << (hi - lo)) - 1) << (run.off + lo - run.j));
    // lane l holds output column jj = run.j + l - run.off, i.e. image column sw*jj + b - pw
    const float* base = x + run.img * cs.in_sz + kr.c_off + ih * g.W - g.pw + kr.b + g.sw * (run.j - run.off);
    if (g.sw == 1) {
      v = _mm512_mask_loadu_ps(v, m, base);
    } else {  // sw == 2: the even floats of a 32-float window, loaded masked, then gathered
      const __mmask16 m_lo = static_cast<__mmask16>(_pdep_u32(m & 0xFFu, 0x5555u));
      const __mmask16 m_hi = static_cast<__mmask16>(_pdep_u32(m >> 8, 0x5555u));
      const __m512i idx = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
      const __m512 w = _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(m_lo, base), idx,
                                              _mm512_maskz_loadu_ps(m_hi, base + 16));
      v = _mm512_mask_mov_ps(v, m, w);
    }
  }
  return v;
}

// Forward B micro-panels, sw 1 or 2: each k-row of a panel is two 16-column loads.
inline void pack_x_b_avx512(const Cols& cs, const float* x, int64_t j0, int64_t k0, int64_t nc, int64_t kc,
                            float* dst) {
  for (int64_t q = 0; q < nc; q += NR, dst += kc * NR) {
    const int64_t n = std::min<int64_t>(NR, nc - q);
    const Group16 g0 = make_group(cs, j0 + q, std::min<int64_t>(16, n));
    const Group16 g1 = make_group(cs, j0 + q + 16, std::max<int64_t>(0, n - 16));
    for (int64_t k = 0; k < kc; ++k) {
      const KRow& kr = cs.rows[k0 + k];
      _mm512_store_ps(dst + k * NR, load_x16(cs, g0, kr, x));
      _mm512_store_ps(dst + k * NR + 16, g1.n ? load_x16(cs, g1, kr, x) : _mm512_setzero_ps());
    }
  }
}

// Weight-gradient B micro-panels (B = X^T: rows are columns of X, NR k's per row), sw 1 or 2:
// 16 k-rows x 16 columns loaded, transposed in registers, stored as 16 panel rows.
inline void pack_xt_b_avx512(const Cols& cs, const float* x, int64_t K, int64_t j0, int64_t k0, int64_t nc,
                             int64_t kc, float* dst) {
  for (int64_t q = 0; q < nc; q += NR, dst += kc * NR) {
    for (int64_t p = 0; p < kc; p += 16) {
      const int64_t np = std::min<int64_t>(16, kc - p);
      const Group16 grp = make_group(cs, k0 + p, np);
      for (int half = 0; half < 2; ++half) {
        __m512 r[16];
        for (int i = 0; i < 16; ++i) {
          const int64_t c = q + half * 16 + i, k = j0 + c;
          r[i] = c < nc && k < K ? load_x16(cs, grp, cs.rows[k], x) : _mm512_setzero_ps();
        }
        transpose16(r);
        for (int64_t l = 0; l < np; ++l) _mm512_store_ps(dst + (p + l) * NR + half * 16, r[l]);
      }
    }
  }
}

// The packers the GEMMs call: AVX-512 for unit column stride, scalar otherwise.
inline void pack_x_b(const Cols& cs, const float* x, int64_t j0, int64_t k0, int64_t nc, int64_t kc, float* dst) {
  if (cs.g.sw <= 2) return pack_x_b_avx512(cs, x, j0, k0, nc, kc, dst);
  pack_x_b_scalar(cs, x, j0, k0, nc, kc, dst);
}
inline void pack_xt_b(const Cols& cs, const float* x, int64_t K, int64_t j0, int64_t k0, int64_t nc, int64_t kc,
                      float* dst) {
  if (cs.g.sw <= 2) return pack_xt_b_avx512(cs, x, K, j0, k0, nc, kc, dst);
  pack_xt_b_scalar(cs, x, K, j0, k0, nc, kc, dst);
}
#else
inline void pack_x_b(const Cols& cs, const float* x, int64_t j0, int64_t k0, int64_t nc, int64_t kc, float* dst) {
  pack_x_b_scalar(cs, x, j0, k0, nc, kc, dst);
}
inline void pack_xt_b(const Cols& cs, const float* x, int64_t K, int64_t j0, int64_t k0, int64_t nc, int64_t kc,
                      float* dst) {
  pack_xt_b_scalar(cs, x, K, j0, k0, nc, kc, dst);
}
#endif

}  // namespace signet::cpu::conv_pack
