// Shared by the kernel tests: run one of our kernels through the CPU SIMT harness with the
// launch shape its header chooses (or a small explicit one, to exercise the grid-stride loops),
// and compare with the CPU reference (compare.h).
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "engine/cuda/kernels/common.cuh"
#include "tests/cuda_sim/compare.h"

namespace signet::testing {

namespace ck = signet::cuda_kernels;

template <class Kernel, class... Args>
void run_kernel(Kernel kernel, ck::LaunchShape shape, Args... args) {
  cuda_sim::launch(kernel, dim3(shape.grid), dim3(shape.block), 0, args...);
}

// Sizes that are not multiples of a warp or a block, and one of exactly a block.
inline const std::vector<int64_t>& odd_sizes() {
  static const std::vector<int64_t> s = {1, 31, 33, 256, 1000, 2049};
  return s;
}
// A small explicit shape: fewer threads than items, so every grid-stride loop goes round.
inline ck::LaunchShape tight_shape() { return {3, 64}; }

}  // namespace signet::testing
