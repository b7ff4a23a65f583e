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

// A tensor viewed as [outer, n, inner] around the indexed dim.
struct IndexView {
  int64_t outer = 1, n = 1, inner = 1;
};

namespace cpu {  // engine/cpu/index_cpu.cpp; contiguous buffers, indices already checked
// The first position k < count whose v[k] is outside [0, n), or -1 when all are inside.
int64_t first_outside(const int64_t* v, int64_t count, int64_t n);
// dst [outer, K, inner] = src rows idx[k] (elements of es bytes).
void index_select(const char* src, char* dst, const int64_t* idx, const IndexView& s, int64_t K, size_t es);
// out [outer, n, inner] += src [outer, K, inner] at rows idx[k].
void index_add(float* out, const float* src, const int64_t* idx, const IndexView& s, int64_t K);
// out[o, k, i] = x[o, idx[o, k, i], i]; scatter_add is its adjoint (out += at the same places).
void gather(const float* x, const int64_t* idx, float* out, const IndexView& s, int64_t K);
void scatter_add(float* out, const float* src, const int64_t* idx, const IndexView& s, int64_t K);
// out [outer, inner] = the first position of the largest along n.
void argmax(const float* x, int64_t* out, const IndexView& s);
}  // namespace cpu

}  // namespace signet
