// Dropout's mask from the counter-based generator of philox.h: element i's value depends only on
// (seed, offset, i), so there is no per-thread state, the mask is the same on every launch
// shape, and the host can recompute any element. The CPU path draws from the engine's Rng
// instead; the two backends give different masks of the same distribution.
#pragma once
#include "engine/cuda/kernels/common.cuh"
#include "engine/cuda/kernels/philox.h"

namespace signet::cuda_kernels {

SIGNET_KERNEL dropout_mask_kernel(float* __restrict__ mask, uint64_t seed, uint64_t offset, float keep, int64_t n) {
  for (int64_t i = global_index(); i < n; i += global_stride()) mask[i] = dropout_mask_value(seed, offset, i, keep);
}

}  // namespace signet::cuda_kernels
