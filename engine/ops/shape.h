// Differentiable shape ops. Views share storage with their input where possible.
//
// reshape(x, shape): same elements in row-major order, new shape (one entry may be -1 and is
//   inferred). A view of a contiguous x, a copy otherwise. Gradient: reshape back.
// flatten(x, start_dim): merges dims start_dim.. into one ([N,1,28,28] -> [N,784]).
// transpose(x, d0, d1): swaps two dims (a view). Gradient: transpose back.
// narrow(x, dim, start, length): the slice [start, start+length) of dim (a view).
//   Gradient: zeros of x's shape with the gradient in that slice (narrow_pad).
// concat(xs, dim): joins tensors whose shapes agree except at dim. Gradient: narrow per input.
// contiguous(x): x as a packed tensor (a copy only when x is not packed).
#pragma once
#include <vector>

#include "engine/tensor.h"

namespace signet {

Tensor reshape(const Tensor& x, Shape shape);
Tensor flatten(const Tensor& x, int64_t start_dim = 1);
Tensor transpose(const Tensor& x, int64_t d0, int64_t d1);
Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length);
Tensor narrow_pad(const Tensor& g, const Shape& full_shape, int64_t dim, int64_t start);
Tensor concat(const std::vector<Tensor>& xs, int64_t dim);
Tensor contiguous(const Tensor& x);

}  // namespace signet
