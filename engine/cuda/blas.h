// The GPU's library calls that are not our kernels (CUDA builds only): GEMM through cuBLAS.
// Ops reach it through KernelTable::gemm (kernel_table.h), so the tests' emulated device can put
// the CPU reference in its place.
#pragma once
#include <cstdint>

#include "engine/cuda/kernel_table.h"

namespace signet::cuda {

// KernelTable::gemm's contract, on the current device and stream `s`.
void cublas_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                 const float* B, int64_t ldb, float beta, float* C, int64_t ldc, Stream s);
// TF32 tensor cores for GEMM (off unless SIGNET_TF32=1 or set here): faster, about 3 digits.
void set_gemm_tf32(bool allow);
bool gemm_tf32();

}  // namespace signet::cuda
