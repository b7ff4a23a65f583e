// 2-d pooling over NCHW float32 tensors, PyTorch semantics (ceil_mode = False, dilation 1).
//
// Window: kernel k x k, stride s (0 = k, PyTorch's default), padding p with p <= k / 2.
//   Ho = (H + 2p - k) / s + 1 (floor; likewise Wo). Output [N, C, Ho, Wo].
// max_pool2d(x, k, s, p): the largest element of each window; padding counts as -inf (never
//   chosen: every window holds at least one real element). NaN wins, as in PyTorch.
//   Gradient: dL/dy routed to the window's argmax (the first maximum, row-major, on ties):
//   max_pool2d_backward(g, indices, input_shape) scatters g to the saved positions
//   (indices: int64 [N, C, Ho, Wo], each a flat position ih * W + iw in its input plane, as
//   PyTorch's return_indices). It is linear in g; its own gradient is the gather of the
//   incoming gradient at the same positions, so double backward works.
// max_pool2d_with_indices: the same forward, also returning the indices.
// avg_pool2d(x, k, s, p): window sum / (k * k), padding counted as zeros
//   (count_include_pad = True). Gradient: avg_pool2d_backward(g, input_shape, k, s, p) spreads
//   each g / (k*k) over its window; the two ops are each other's adjoints.
// global_avg_pool(x [N, C, H, W]) -> [N, C]: the mean over H and W.
//   Gradient: g / (H*W) broadcast over the plane.
#pragma once
#include <utility>

#include "engine/tensor.h"

namespace signet {

Tensor max_pool2d(const Tensor& x, int64_t kernel, int64_t stride = 0, int64_t padding = 0);
std::pair<Tensor, Tensor> max_pool2d_with_indices(const Tensor& x, int64_t kernel, int64_t stride = 0,
                                                  int64_t padding = 0);
Tensor max_pool2d_backward(const Tensor& g, const Tensor& indices, const Shape& input_shape);
Tensor avg_pool2d(const Tensor& x, int64_t kernel, int64_t stride = 0, int64_t padding = 0);
Tensor avg_pool2d_backward(const Tensor& g, const Shape& input_shape, int64_t kernel, int64_t stride = 0,
                           int64_t padding = 0);
Tensor global_avg_pool(const Tensor& x);

struct Pool2dGeom {
  int64_t N, C, H, W, k, s, p, Ho, Wo;
};
// Validates x's shape and the window (naming `op` in errors) and fills Ho, Wo.
Pool2dGeom pool2d_geom(const char* op, const Shape& x, int64_t kernel, int64_t stride, int64_t padding);

namespace cpu {
// Contiguous buffers. Planes (n, c) are independent; the fast paths run them in parallel.
void max_pool2d_ref(const Pool2dGeom& g, const float* x, float* y, int64_t* idx);
void max_pool2d_fast(const Pool2dGeom& g, const float* x, float* y, int64_t* idx);
// dx = 0, then dx[plane, idx] += dy for every output element.
void max_pool2d_backward_ref(const Pool2dGeom& g, const float* dy, const int64_t* idx, float* dx);
void max_pool2d_backward_fast(const Pool2dGeom& g, const float* dy, const int64_t* idx, float* dx);
// y[plane, o] = x[plane, idx[o]] (the adjoint of the scatter above).
void max_pool2d_gather_fast(const Pool2dGeom& g, const float* x, const int64_t* idx, float* y);
void avg_pool2d_ref(const Pool2dGeom& g, const float* x, float* y);
void avg_pool2d_fast(const Pool2dGeom& g, const float* x, float* y);
void avg_pool2d_backward_ref(const Pool2dGeom& g, const float* dy, float* dx);
void avg_pool2d_backward_fast(const Pool2dGeom& g, const float* dy, float* dx);
// y[plane] = mean of x's plane of `hw` elements.
void global_avg_pool_ref(const float* x, float* y, int64_t planes, int64_t hw);
void global_avg_pool_fast(const float* x, float* y, int64_t planes, int64_t hw);
}  // namespace cpu

}  // namespace signet
