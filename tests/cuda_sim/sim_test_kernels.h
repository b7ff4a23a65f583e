// Kernels the emulator's tests share: a shared-memory tree reduction, and the check that a
// normal launch still works (after an error report, in the detection tests).
#pragma once

#include <gtest/gtest.h>

#include <vector>

#include "engine/cuda/kernel_compat.h"

namespace sim_test {

constexpr unsigned kSumBlock = 256;

// One partial sum per block. `first_barrier` = 0 drops the barrier between filling the shared
// array and reducing it: the race the checker must report.
SIGNET_KERNEL block_sum(const float* in, float* partial, unsigned n, int first_barrier) {
  SIGNET_SHARED(float, s, kSumBlock);
  const unsigned tid = threadIdx.x;
  const unsigned i = blockIdx.x * blockDim.x + tid;
  s[tid] = i < n ? in[i] : 0.0f;
  if (first_barrier) __syncthreads();
  for (unsigned stride = blockDim.x / 2; stride > 0; stride >>= 1) {
    if (tid < stride) s[tid] += s[tid + stride];
    __syncthreads();
  }
  if (tid == 0) partial[blockIdx.x] = s[0];
}

// Small integers, so the float sums are exact in any order.
inline std::vector<float> sum_input(unsigned n) {
  std::vector<float> in(n);
  for (unsigned i = 0; i < n; ++i) in[i] = static_cast<float>((i * 13) % 17) - 8.0f;
  return in;
}

inline void expect_block_sum_works(unsigned n) {
  const std::vector<float> in = sum_input(n);
  const unsigned blocks = (n + kSumBlock - 1) / kSumBlock;
  std::vector<float> partial(blocks, -1.0f);
  cuda_sim::launch(block_sum, dim3(blocks), dim3(kSumBlock), 0, in.data(), partial.data(), n, 1);
  double got = 0, expected = 0;
  for (float p : partial) got += p;
  for (float v : in) expected += v;
  EXPECT_EQ(got, expected) << "n = " << n;
}

}  // namespace sim_test
