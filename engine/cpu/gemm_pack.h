// Packers for gemm_blocked.h's operands stored as plain row-major matrices (optionally
// transposed), shared by gemm_fast and the convolution (whose weights are such a matrix).
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "engine/cpu/gemm_blocked.h"

#if SIGNET_HAVE_AVX512_GEMM
#include <immintrin.h>
#endif

namespace signet::cpu::gemm {

#if SIGNET_HAVE_AVX512_GEMM
// Transposes the 16 x 16 block in r[] (r[i] = row i) in place: 8 unpacks, 16 in-lane
// shuffles, then a 4 x 4 transpose of 128-bit lanes (16 lane shuffles).
inline void transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 16; i += 2) {  // t[i] lane L: r_i[4L], r_i+1[4L], r_i[4L+1], r_i+1[4L+1]
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {  // r[4a + b] lane L: rows 4a..4a+3 of column 4L + b
    r[i] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int b = 0; b < 4; ++b) {  // column 4L + b = lane L of r[b], r[4+b], r[8+b], r[12+b]
    const __m512 v0 = _mm512_shuffle_f32x4(r[b], r[4 + b], _MM_SHUFFLE(1, 0, 1, 0));
    const __m512 v1 = _mm512_shuffle_f32x4(r[b], r[4 + b], _MM_SHUFFLE(3, 2, 3, 2));
    const __m512 v2 = _mm512_shuffle_f32x4(r[8 + b], r[12 + b], _MM_SHUFFLE(1, 0, 1, 0));
    const __m512 v3 = _mm512_shuffle_f32x4(r[8 + b], r[12 + b], _MM_SHUFFLE(3, 2, 3, 2));
    t[b] = _mm512_shuffle_f32x4(v0, v2, _MM_SHUFFLE(2, 0, 2, 0));
    t[4 + b] = _mm512_shuffle_f32x4(v0, v2, _MM_SHUFFLE(3, 1, 3, 1));
    t[8 + b] = _mm512_shuffle_f32x4(v1, v3, _MM_SHUFFLE(2, 0, 2, 0));
    t[12 + b] = _mm512_shuffle_f32x4(v1, v3, _MM_SHUFFLE(3, 1, 3, 1));
  }
  for (int i = 0; i < 16; ++i) r[i] = t[i];
}

// dst[k * dst_ld + r] = src[r * ld + k] for r < rows (<= 16), k < cols; lanes r in
// [rows, out_lanes) of each dst row are written as zeros (out_lanes <= 16). Packing an operand
// whose k runs along its rows (A not transposed, B transposed) is this transpose; one float
// at a time it cost as much as the products of the MLP's layers.
inline void transpose_block(const float* src, int64_t ld, int rows, int64_t cols, float* dst, int64_t dst_ld,
                            int out_lanes) {
  const __mmask16 store = static_cast<__mmask16>((1u << out_lanes) - 1);
  for (int64_t k0 = 0; k0 < cols; k0 += 16) {
    const int kn = static_cast<int>(std::min<int64_t>(16, cols - k0));
    const __mmask16 load = static_cast<__mmask16>((1u << kn) - 1);
    __m512 r[16];
    for (int i = 0; i < 16; ++i) r[i] = i < rows ? _mm512_maskz_loadu_ps(load, src + i * ld + k0) : _mm512_setzero_ps();
    transpose16(r);
    for (int l = 0; l < kn; ++l) _mm512_mask_storeu_ps(dst + (k0 + l) * dst_ld, store, r[l]);
  }
}
#endif

// Packs rows [i0, i0+mc) x columns [k0, k0+kc) of op(A) into MR-row micro-panels (see the
// contract in gemm_blocked.h). ta: A is stored [K, M].
template <int MR>
void pack_a_rowmajor(bool ta, const float* A, int64_t lda, int64_t i0, int64_t k0, int64_t mc, int64_t kc,
                     float* dst) {
  for (int64_t p = 0; p < mc; p += MR, dst += kc * MR) {
    const int rows = static_cast<int>(std::min<int64_t>(MR, mc - p));
    if (ta) {  // each k: MR consecutive floats
      for (int64_t k = 0; k < kc; ++k) {
        const float* s = A + (k0 + k) * lda + i0 + p;
        float* d = dst + k * MR;
        for (int r = 0; r < rows; ++r) d[r] = s[r];
        for (int r = rows; r < MR; ++r) d[r] = 0.0f;
      }
    } else {  // each row r: kc consecutive floats, written MR apart
#if SIGNET_HAVE_AVX512_GEMM
      transpose_block(A + (i0 + p) * lda + k0, lda, rows, kc, dst, MR, MR);
      continue;
#endif
      for (int r = 0; r < MR; ++r) {
        float* d = dst + r;
        if (r >= rows) {
          for (int64_t k = 0; k < kc; ++k) d[k * MR] = 0.0f;
          continue;
        }
        const float* s = A + (i0 + p + r) * lda + k0;
        for (int64_t k = 0; k < kc; ++k) d[k * MR] = s[k];
      }
    }
  }
}

// Packs rows [k0, k0+kc) x columns [j0, j0+nc) of op(B) into NR-column micro-panels.
// tb: B is stored [N, K].
inline void pack_b_rowmajor(bool tb, const float* B, int64_t ldb, int64_t j0, int64_t k0, int64_t nc, int64_t kc,
                            float* dst) {
  for (int64_t q = 0; q < nc; q += NR, dst += kc * NR) {
    const int cols = static_cast<int>(std::min<int64_t>(NR, nc - q));
    if (!tb) {
      for (int64_t k = 0; k < kc; ++k) {
        float* d = dst + k * NR;
        std::memcpy(d, B + (k0 + k) * ldb + j0 + q, cols * sizeof(float));
        for (int c = cols; c < NR; ++c) d[c] = 0.0f;
      }
    } else {
#if SIGNET_HAVE_AVX512_GEMM
      for (int half = 0; half < 2; ++half)
        transpose_block(B + (j0 + q + half * 16) * ldb + k0, ldb, std::clamp(cols - half * 16, 0, 16), kc,
                        dst + half * 16, NR, 16);
      continue;
#endif
      for (int c = 0; c < NR; ++c) {
        float* d = dst + c;
        if (c >= cols) {
          for (int64_t k = 0; k < kc; ++k) d[k * NR] = 0.0f;
          continue;
        }
        const float* s = B + (j0 + q + c) * ldb + k0;
        for (int64_t k = 0; k < kc; ++k) d[k * NR] = s[k];
      }
    }
  }
}

}  // namespace signet::cpu::gemm
