// DeepSigns' density key search (watermark/deepsigns/key_search.h): for each candidate query
// row, how many data rows lie within eps of it. Distances in double, as the CPU reference
// computes them, so borderline points count the same on both backends.
#pragma once
#include "engine/cuda/kernels/common.cuh"

namespace signet::cuda_kernels {

// Q [n, P] candidates, X [N, P] data; counts[i] = #{ j : ||Q_i - X_j||^2 <= eps^2 }.
// One block per candidate; its threads stride over the data rows.
SIGNET_KERNEL density_counts_kernel(const float* __restrict__ Q, int64_t n, const float* __restrict__ X, int64_t N,
                                    int64_t P, float eps, int64_t* __restrict__ counts) {
  SIGNET_SHARED(float, scratch, 32);
  const double e2 = static_cast<double>(eps) * static_cast<double>(eps);
  for (int64_t i = blockIdx.x; i < n; i += gridDim.x) {
    const float* q = Q + i * P;
    float c = 0.0f;  // exact: a count stays far below 2^24 per thread
    for (int64_t j = threadIdx.x; j < N; j += blockDim.x) {
      const float* x = X + j * P;
      double s = 0.0;
      for (int64_t p = 0; p < P; ++p) {
        const double d = static_cast<double>(q[p]) - static_cast<double>(x[p]);
        s += d * d;
      }
      c += s <= e2 ? 1.0f : 0.0f;
    }
    const float total = block_sum(c, scratch);
    if (threadIdx.x == 0) counts[i] = static_cast<int64_t>(total);
  }
}

}  // namespace signet::cuda_kernels
