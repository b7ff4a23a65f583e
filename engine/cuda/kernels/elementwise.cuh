// Elementwise kernels: the unary activations, relu's backward, the four binary ops with
// broadcasting, and the scalar forms. Math as engine/ops/unary.h and binary.h state it.
#pragma once
#include "engine/cuda/kernels/common.cuh"
#include "engine/cuda/kernels/types.h"

namespace signet::cuda_kernels {

SIGNET_DEVICE float apply_unary(Unary op, float x) {
  switch (op) {
    case Unary::Relu: return x > 0.0f ? x : 0.0f;
    case Unary::Sigmoid: return 1.0f / (1.0f + expf(-x));
    case Unary::Tanh: return tanhf(x);
    case Unary::Exp: return expf(x);
    case Unary::Log: return logf(x);
  }
  return x;
}
SIGNET_DEVICE float apply_binary(Binary op, float a, float b) {
  switch (op) {
    case Binary::Add: return a + b;
    case Binary::Sub: return a - b;
    case Binary::Mul: return a * b;
    case Binary::Div: return a / b;
  }
  return a;
}

SIGNET_KERNEL unary_kernel(Unary op, const float* __restrict__ x, float* __restrict__ y, int64_t n) {
  for (int64_t i = global_index(); i < n; i += global_stride()) y[i] = apply_unary(op, x[i]);
}

// out = g where x > 0, else 0.
SIGNET_KERNEL relu_grad_kernel(const float* __restrict__ g, const float* __restrict__ x, float* __restrict__ out,
                               int64_t n) {
  for (int64_t i = global_index(); i < n; i += global_stride()) out[i] = x[i] > 0.0f ? g[i] : 0.0f;
}

// y[i] = v: Tensor::fill_, zeros and ones on a device.
SIGNET_KERNEL fill_f32_kernel(float* __restrict__ y, float v, int64_t n) {
  for (int64_t i = global_index(); i < n; i += global_stride()) y[i] = v;
}
SIGNET_KERNEL fill_i64_kernel(int64_t* __restrict__ y, int64_t v, int64_t n) {
  for (int64_t i = global_index(); i < n; i += global_stride()) y[i] = v;
}

// Element i of s.sizes (row-major): its offsets through s.a_strides and s.b_strides. The walk
// of the broadcast below and of the strided copy.
SIGNET_DEVICE void strided_offsets(const BroadcastShape& s, int64_t i, int64_t* from, int64_t* to) {
  int64_t rest = i, a = 0, b = 0;
  for (int d = s.ndim - 1; d >= 0; --d) {
    const int64_t c = rest % s.sizes[d];
    rest /= s.sizes[d];
    a += c * s.a_strides[d];
    b += c * s.b_strides[d];
  }
  *from = a;
  *to = b;
}
// dst = src over the n elements of s.sizes, src read through s.a_strides and dst written through
// s.b_strides (element strides; offsets are in the pointers): Tensor::copy_, contiguous and
// clone of strided tensors on a device, and copies into views (concat, narrow's gradient).
template <class T>
SIGNET_KERNEL strided_copy_kernel(const T* __restrict__ src, T* __restrict__ dst, BroadcastShape s, int64_t n) {
  for (int64_t i = global_index(); i < n; i += global_stride()) {
    int64_t from = 0, to = 0;
    strided_offsets(s, i, &from, &to);
    dst[to] = src[from];
  }
}

// y = a * x + b: the scalar forms (add_scalar: a = 1; mul_scalar: b = 0; neg; rsub_scalar).
SIGNET_KERNEL affine_kernel(const float* __restrict__ x, float* __restrict__ y, float a, float b, int64_t n) {
  for (int64_t i = global_index(); i < n; i += global_stride()) y[i] = a * x[i] + b;
}

// Contiguous a and b of the output's shape.
SIGNET_KERNEL binary_same_kernel(Binary op, const float* __restrict__ a, const float* __restrict__ b,
                                 float* __restrict__ out, int64_t n) {
  for (int64_t i = global_index(); i < n; i += global_stride()) out[i] = apply_binary(op, a[i], b[i]);
}

// Any broadcast (types.h: BroadcastShape).
SIGNET_KERNEL binary_broadcast_kernel(Binary op, const float* __restrict__ a, const float* __restrict__ b,
                                      float* __restrict__ out, BroadcastShape s, int64_t n) {
  for (int64_t i = global_index(); i < n; i += global_stride()) {
    int64_t ia = 0, ib = 0;
    strided_offsets(s, i, &ia, &ib);
    out[i] = apply_binary(op, a[ia], b[ib]);
  }
}

}  // namespace signet::cuda_kernels
