// Reductions and their adjoint, expansion.
//
// sum(x, dims, keepdim): adds over the listed dimensions (negative counts from the end; an
//   empty list means every dimension, giving a 0-d tensor unless keepdim). mean divides by the
//   number of elements reduced. Gradient: the output gradient expanded back to x's shape.
// sum_to(x, shape): sums x down to `shape`, which must broadcast to x.shape() (drops leading
//   dims, sums dims where shape has 1). The gradient of broadcasting. Adjoint of expand.
// expand(x, shape): broadcasts x to `shape` (a view with stride 0). Gradient: sum_to.
#pragma once
#include <vector>

#include "engine/tensor.h"

namespace signet {

Tensor sum(const Tensor& x, std::vector<int64_t> dims = {}, bool keepdim = false);
Tensor mean(const Tensor& x, std::vector<int64_t> dims = {}, bool keepdim = false);
Tensor sum_to(const Tensor& x, const Shape& shape);
Tensor expand(const Tensor& x, const Shape& shape);

namespace cpu {
// x viewed as [outer, n, inner] (contiguous); out[o, i] = sum_k x[o, k, i].
void sum_middle_ref(const float* x, float* out, int64_t outer, int64_t n, int64_t inner);
void sum_middle_fast(const float* x, float* out, int64_t outer, int64_t n, int64_t inner);
}  // namespace cpu

}  // namespace signet
