// Element-wise binary ops with NumPy/PyTorch broadcasting.
//
// Shapes: a and b are aligned at their last dimension; each pair of sizes must be equal or one
// of them 1 (a missing leading dimension counts as 1). The result has the larger size in each.
// Math: add a+b, sub a-b, mul a*b, div a/b. Gradients: d(a op b) reduced back to each input's
// shape by summing over the broadcast dimensions (sum_to).
// The scalar forms treat s as a constant (no gradient for s).
#pragma once
#include "engine/tensor.h"

namespace signet {

Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add_scalar(const Tensor& a, float s);  // a + s
Tensor mul_scalar(const Tensor& a, float s);  // a * s
Tensor neg(const Tensor& a);                  // -a
Tensor rsub_scalar(float s, const Tensor& a); // s - a
// relu(a + b) in one pass (a residual block's end): same-shape CPU tensors; anything else is
// the two ops. Backward: g where the output is positive, to both inputs.
Tensor add_relu(const Tensor& a, const Tensor& b);

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, float s);
Tensor operator*(float s, const Tensor& a);
Tensor operator-(const Tensor& a);

// Broadcast result shape of a and b; Error naming both shapes when they do not broadcast.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

enum class BinaryOp { Add, Sub, Mul, Div };

namespace cpu {
// Plain-loop reference: any shapes that broadcast, any strides. out is contiguous, out_shape.
void binary_ref(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out);
// Fast path: contiguous same-shape, row-broadcast ([.., M] with [M]) and scalar cases are
// vectorised and parallel; anything else falls back to the reference walk.
void binary_fast(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out);
// out[i] = max(0, a[i] + b[i]) for i < n.
void add_relu_ref(const float* a, const float* b, float* out, int64_t n);
void add_relu_fast(const float* a, const float* b, float* out, int64_t n);
// dst[i] = a * src[i] for i < n (src == dst allowed): packing gradients for an allreduce.
void scale(const float* src, float a, float* dst, int64_t n);
}  // namespace cpu

}  // namespace signet
