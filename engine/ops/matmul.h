// Matrix products: GEMM by cpu::gemm_fast on the CPU, by the device's library (cuBLAS; KernelTable::gemm)
// on a GPU.
//
// matmul(a [M,K], b [K,N]) -> [M,N].  Gradients: da = g b^T, db = a^T g.
// linear(x [B,in], w [out,in], bias [out] or undefined) -> x w^T + bias  (PyTorch's layout:
//   weights stored [out, in], so a PyTorch state dict loads unchanged).
//   Gradients: dx = g w, dw = g^T x, dbias = sum over rows of g.
// Transposed operands (a transpose view) go to the GEMM as transpose flags, never copied; other
// strided operands are copied first (on the CPU only: a device operand must be one of the two).
#pragma once
#include "engine/tensor.h"

namespace signet {

Tensor matmul(const Tensor& a, const Tensor& b);
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias = Tensor());

namespace cpu {
// C[M,N] = alpha * op(A) op(B) + beta * C, all row-major; lda/ldb/ldc are row strides.
void gemm_ref(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
              int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
// Signet's blocked AVX-512 GEMM (gemm_blocked.h; OpenBLAS when built without AVX-512). Threads
// itself outside parallel regions, runs single-threaded inside one.
void gemm_fast(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
               int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
// The same through OpenBLAS's cblas_sgemm (kept for comparison: bench_gemm.cpp).
void gemm_blas(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
               int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
// Every row of out [rows, cols] set to row [cols] (the bias a fused linear accumulates onto).
void fill_rows(float* out, int64_t rows, int64_t cols, const float* row);
}  // namespace cpu

}  // namespace signet
