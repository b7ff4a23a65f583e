// The plain types our kernels take as arguments, kept apart from the kernel sources so that
// host code (engine/cuda/kernel_table.h, its callers) can name them without CUDA or the harness.
#pragma once
#include <cstdint>

namespace signet::cuda_kernels {

// The same order as signet::UnaryOp and signet::BinaryOp (checked where both are visible).
enum class Unary : int { Relu, Sigmoid, Tanh, Exp, Log };
enum class Binary : int { Add, Sub, Mul, Div };

// One 2-d pooling (engine/ops/pool.h's Pool2dGeom): x [N,C,H,W], window k x k, stride s,
// padding p, output [N,C,Ho,Wo].
struct PoolShape {
  int64_t N, C, H, W, k, s, p, Ho, Wo;
};

// A broadcast of a and b to a contiguous output of `sizes`: a and b are read through their
// strides in the output's dimensions (stride 0 where broadcast), as the CPU reference walks them.
inline constexpr int kMaxDims = 8;
struct BroadcastShape {
  int ndim = 0;
  int64_t sizes[kMaxDims] = {};
  int64_t a_strides[kMaxDims] = {};
  int64_t b_strides[kMaxDims] = {};
};

}  // namespace signet::cuda_kernels
