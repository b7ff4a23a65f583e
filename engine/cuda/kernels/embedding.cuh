// Embedding rows (engine/ops/embedding.h): gather and its adjoint, the scatter-add of gradient
// rows (repeated ids add; atomics, so the order of the additions, and the last bits of a sum
// over many repeats, are not fixed).
#pragma once
#include "engine/cuda/kernels/common.cuh"

namespace signet::cuda_kernels {

// out[p, :] = weight[ids[p], :] for P positions of D columns. An id outside [0, V) is not read:
// its row is NaN and bad_pos (when not null, 0 before) ends as P - p for the first such position p
// (atomicMax of P - p), so the op can name the same position as the CPU.
SIGNET_KERNEL embedding_gather_kernel(const float* __restrict__ weight, const int64_t* __restrict__ ids,
                                      float* __restrict__ out, int64_t P, int64_t D, int64_t V,
                                      unsigned long long* bad_pos) {
  const int64_t total = P * D;
  for (int64_t j = global_index(); j < total; j += global_stride()) {
    const int64_t p = j / D, id = ids[p];
    if (id < 0 || id >= V) {
      out[j] = NAN;
      if (bad_pos && j % D == 0) atomicMax(bad_pos, static_cast<unsigned long long>(P - p));
      continue;
    }
    out[j] = weight[id * D + j % D];
  }
}

// grad_weight[ids[p], :] += grad_out[p, :]; ids were checked by the gather.
SIGNET_KERNEL embedding_scatter_add_kernel(const float* __restrict__ grad_out, const int64_t* __restrict__ ids,
                                           float* __restrict__ grad_weight, int64_t P, int64_t D, int64_t V) {
  const int64_t total = P * D;
  for (int64_t j = global_index(); j < total; j += global_stride()) {
    const int64_t p = j / D, id = ids[p];
    if (id >= 0 && id < V) atomicAdd(grad_weight + id * D + j % D, grad_out[j]);
  }
}

}  // namespace signet::cuda_kernels
