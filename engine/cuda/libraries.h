// The GPU's library calls that are not our kernels (CUDA builds only): GEMM through cuBLAS,
// convolutions through cuDNN. Ops reach them through the KernelTable (kernel_table.h), so the
// tests' emulated device can put the CPU references in their place.
#pragma once
#include <cstdint>

#include "engine/cuda/kernel_table.h"

namespace signet::cuda {

// KernelTable::gemm's contract, on the current device and stream `s`.
void cublas_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                 const float* B, int64_t ldb, float beta, float* C, int64_t ldc, Stream s);
// KernelTable::conv2d_*'s contracts (cpu::conv2d_ref and its two backward references).
void cudnn_conv2d_forward(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y,
                          Stream s);
void cudnn_conv2d_backward_input(const ConvGeometry& g, const float* dy, const float* w, float* dx, Stream s);
void cudnn_conv2d_backward_weight(const ConvGeometry& g, const float* dy, const float* x, float* dw, Stream s);
// TF32 tensor cores for GEMM and convolutions (off unless SIGNET_TF32=1 or set here): faster,
// about 3 significant digits.
void set_gemm_tf32(bool allow);
bool gemm_tf32();

}  // namespace signet::cuda
