// Sums over the middle of x viewed as [outer, n, inner]: out[o, i] = sum_k x[o, k, i]
// (engine/ops/reduce.h's sum_middle; every sum, mean and sum_to reduces to it).
#pragma once
#include "engine/cuda/kernels/common.cuh"

namespace signet::cuda_kernels {

// inner == 1: one block per row, the threads stride over the row, then a block sum.
SIGNET_KERNEL sum_rows_kernel(const float* __restrict__ x, float* __restrict__ out, int64_t outer, int64_t n) {
  SIGNET_SHARED(float, scratch, 32);
  for (int64_t o = blockIdx.x; o < outer; o += gridDim.x) {
    const float* row = x + o * n;
    float v = 0.0f;
    for (int64_t k = threadIdx.x; k < n; k += blockDim.x) v += row[k];
    const float total = block_sum(v, scratch);
    if (threadIdx.x == 0) out[o] = total;
  }
}

// inner > 1: one thread per output element walks k; neighbouring threads read neighbouring i.
SIGNET_KERNEL sum_columns_kernel(const float* __restrict__ x, float* __restrict__ out, int64_t outer, int64_t n,
                                 int64_t inner) {
  const int64_t total = outer * inner;
  for (int64_t j = global_index(); j < total; j += global_stride()) {
    const int64_t o = j / inner, i = j % inner;
    const float* p = x + o * n * inner + i;
    float v = 0.0f;
    for (int64_t k = 0; k < n; ++k) v += p[k * inner];
    out[j] = v;
  }
}

}  // namespace signet::cuda_kernels
