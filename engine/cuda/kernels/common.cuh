// What every kernel of ours shares: grid-stride indexing, block-wide sums and maxima, and the
// launch shapes. Kernel sources are plain CUDA written against engine/cuda/kernel_compat.h, so
// the same text compiles with nvcc for the GPU and as host C++ for the CPU SIMT harness
// (tests/cuda_sim/), where the tests run every kernel against the CPU reference.
//
// Launch shapes are chosen here, once, by host functions; the CUDA wrappers (engine/cuda/*.cu)
// and the harness tests call the same ones, so the harness runs the configuration the GPU runs.
#pragma once
#include <algorithm>
#include <cstdint>

#include "engine/cuda/kernel_compat.h"

namespace signet::cuda_kernels {

// Threads per block of the elementwise and row kernels: a multiple of the warp, at most 32 warps
// (block_sum and block_max keep one partial per warp in 32 shared slots).
inline constexpr int kBlock = 256;
inline constexpr int kWarp = 32;
// Enough blocks to fill a large GPU several times over; grid-stride loops cover the rest.
inline constexpr int64_t kMaxBlocks = 4096;

struct LaunchShape {
  unsigned grid = 1, block = kBlock;
};

// One thread per element, grid-stride beyond kMaxBlocks * block.
inline LaunchShape elementwise_shape(int64_t n, int block = kBlock) {
  const int64_t blocks = std::max<int64_t>(1, std::min<int64_t>((n + block - 1) / block, kMaxBlocks));
  return {static_cast<unsigned>(blocks), static_cast<unsigned>(block)};
}
// One block per row (rows beyond kMaxBlocks are taken in turn by the same blocks).
inline LaunchShape row_shape(int64_t rows, int block = kBlock) {
  return {static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>(rows, kMaxBlocks))),
          static_cast<unsigned>(block)};
}

SIGNET_DEVICE int64_t global_index() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
SIGNET_DEVICE int64_t global_stride() { return static_cast<int64_t>(blockDim.x) * gridDim.x; }

struct SumOp {
  SIGNET_DEVICE float operator()(float a, float b) const { return a + b; }
};
struct MaxOp {
  SIGNET_DEVICE float operator()(float a, float b) const { return fmaxf(a, b); }
};

template <class Op>
SIGNET_DEVICE float warp_reduce(float v, Op op) {
  for (int off = kWarp / 2; off > 0; off /= 2) v = op(v, __shfl_down_sync(0xffffffffu, v, off));
  return v;
}

// op over every thread's v in the block, returned to every thread, in a fixed order (so the
// result does not depend on timing). The block size must be a multiple of the warp (every
// launch shape above is). `scratch` is 32 shared floats, free on entry; the closing barrier
// makes it free again on return, so calls can follow each other.
template <class Op, class Shared>
SIGNET_DEVICE float block_reduce(float v, Shared& scratch, Op op) {
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp, warps = blockDim.x / kWarp;
  v = warp_reduce(v, op);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float r = scratch[0];
  for (int w = 1; w < warps; ++w) r = op(r, static_cast<float>(scratch[w]));
  __syncthreads();
  return r;
}
template <class Shared>
SIGNET_DEVICE float block_sum(float v, Shared& scratch) {
  return block_reduce(v, scratch, SumOp{});
}
template <class Shared>
SIGNET_DEVICE float block_max(float v, Shared& scratch) {
  return block_reduce(v, scratch, MaxOp{});
}

}  // namespace signet::cuda_kernels
