// Packers for gemm_blocked.h's operands stored as plain row-major matrices (optionally
// transposed), shared by gemm_fast and the convolution (whose weights are such a matrix).
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "engine/ops/gemm_blocked.h"

namespace signet::cpu::gemm {

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
