// Indexing ops. Indices are int64 tensors; an index outside [0, size) is an Error naming it.
//
// index_select(x, dim, idx[K]): out has x's shape with dim resized to K;
//   out[.., k, ..] = x[.., idx[k], ..]. Gradient: index_add into zeros (repeated indices add).
// index_add(base, dim, idx[K], src): base with src[.., k, ..] added at row idx[k] of dim.
//   Gradients: base -> g; src -> index_select(g, dim, idx).
// gather(x, dim, idx): idx has x's shape except at dim (any size K there);
//   out[o, k, i] = x[o, idx[o, k, i], i] viewing tensors as [outer, dim, inner].
//   Gradient: scatter_add of g at the same positions.
// scatter_add(base, dim, idx, src): adjoint of gather.
// argmax(x, dim): int64 indices of the largest element along dim (first on ties); no gradient.
#pragma once
#include "engine/tensor.h"

namespace signet {

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& idx);
Tensor index_add(const Tensor& base, int64_t dim, const Tensor& idx, const Tensor& src);
Tensor gather(const Tensor& x, int64_t dim, const Tensor& idx);
Tensor scatter_add(const Tensor& base, int64_t dim, const Tensor& idx, const Tensor& src);
Tensor argmax(const Tensor& x, int64_t dim);

}  // namespace signet
