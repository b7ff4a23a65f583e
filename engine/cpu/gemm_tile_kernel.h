// The AVX-512 register-tile kernel behind gemm::kernel (gemm_blocked.h), with its operands
// either packed or read in place through row/column offsets (used by the direct convolution,
// conv2d_direct_cpu.cpp, where a row of the im2col matrix is the padded image shifted by a
// constant offset).
//
//   acc[r, c] = sum_{k < kc} A(r, k) * B(k, c),  r < MR, c < 32
//   A(r, k) = a[k*MR + r]           (packed)    or  a[aoff[r] + k]  (AIndirect)
//   B(k, c) = b[k*32 + c] (aligned) (packed)    or  b[boff[k] + c]  (BIndirect)
//   C[r, c] = alpha * acc + beta * C[r, c] (+ rbias[r])   for r < mr, c < nr (beta == 0: C
//   not read; rbias optional, a per-row bias such as a convolution's).
// An MR x 32 tile of C lives in 2*MR zmm registers for the whole k-loop: each step loads a
// 32-float row of B (two loads), broadcasts MR values of A and issues 2*MR FMAs (24 FMAs per
// 14 loads for MR = 12), enough to keep Zen 5's two 512-bit FMA pipes busy. Rows r >= mr of
// an indirect A must still be readable (callers repeat a valid row).
#pragma once
#include <cstdint>

#if defined(__AVX512F__)
// GCC 12 reports its own _mm512_undefined_ps() inside the intrinsics as maybe-uninitialized.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

namespace signet::cpu::gemm {

template <int MR, bool AIndirect, bool BIndirect>
inline void tile_kernel(int64_t kc, const float* a, const int64_t* aoff, const float* b, const int64_t* boff,
                        float* c, int64_t ldc, float alpha, float beta, int mr, int nr,
                        const float* rbias = nullptr) {
  // Start fetching the C tile now: it is read/written after the k-loop, and in large products
  // it sits in L3 or memory (without this, 2048^3 ran at 67% of the roof single-threaded
  // instead of 84%; prefetching A and B ahead inside the loop was tried and did not pay).
#pragma GCC unroll 12
  for (int r = 0; r < MR; ++r) {
    if (r >= mr) break;
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + 31), _MM_HINT_T0);
  }
  const float* arow[MR];
  if constexpr (AIndirect) {
#pragma GCC unroll 12
    for (int r = 0; r < MR; ++r) arow[r] = a + aoff[r];
  }
  __m512 lo[MR], hi[MR];
#pragma GCC unroll 12
  for (int r = 0; r < MR; ++r) lo[r] = hi[r] = _mm512_setzero_ps();
#pragma GCC unroll 2
  for (int64_t k = 0; k < kc; ++k) {
    __m512 b0, b1;
    if constexpr (BIndirect) {
      const float* bk = b + boff[k];
      b0 = _mm512_loadu_ps(bk);
      b1 = _mm512_loadu_ps(bk + 16);
    } else {
      b0 = _mm512_load_ps(b + k * 32);
      b1 = _mm512_load_ps(b + k * 32 + 16);
    }
#pragma GCC unroll 12
    for (int r = 0; r < MR; ++r) {
      const __m512 av = _mm512_set1_ps(AIndirect ? arow[r][k] : a[k * MR + r]);
      lo[r] = _mm512_fmadd_ps(av, b0, lo[r]);
      hi[r] = _mm512_fmadd_ps(av, b1, hi[r]);
    }
  }
  const __mmask16 m0 = nr >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << nr) - 1);
  const __mmask16 m1 = nr >= 32 ? 0xFFFF : nr <= 16 ? 0 : static_cast<__mmask16>((1u << (nr - 16)) - 1);
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 12
  for (int r = 0; r < MR; ++r) {
    if (r >= mr) break;
    float* cr = c + r * ldc;
    __m512 v0 = _mm512_mul_ps(va, lo[r]), v1 = _mm512_mul_ps(va, hi[r]);
    if (beta != 0.0f) {
      v0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, cr), v0);
      v1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, cr + 16), v1);
    }
    if (rbias) {
      const __m512 rb = _mm512_set1_ps(rbias[r]);
      v0 = _mm512_add_ps(v0, rb);
      v1 = _mm512_add_ps(v1, rb);
    }
    _mm512_mask_storeu_ps(cr, m0, v0);
    _mm512_mask_storeu_ps(cr + 16, m1, v1);
  }
}

}  // namespace signet::cpu::gemm
#pragma GCC diagnostic pop
#endif
