// 2-d convolution (cross-correlation, as PyTorch's nn.Conv2d), NCHW, float32.
//
// conv2d(x [N,C,H,W], w [O,C,kh,kw], bias [O] or undefined, stride, padding) -> y [N,O,Ho,Wo]
//   Ho = (H + 2 pad_h - kh) / stride_h + 1   (floor; likewise Wo), zero padding:
//   y[n,o,i,j] = bias[o] + sum_{c,a,b} x[n, c, i*sh - ph + a, j*sw - pw + b] * w[o,c,a,b]
//   (x outside [0,H) x [0,W) reads as 0). Weight layout [O,C,kh,kw] is PyTorch's.
// Gradients (g = dL/dy):
//   dx    = conv2d_backward_input(g, w, x.shape, ...)   ("transposed convolution" of g by w)
//   dw    = conv2d_backward_weight(g, x, w.shape, ...)  (correlation of x with g)
//   dbias = sum of g over N, Ho, Wo.
// The two backward ops are ops themselves, each linear in both tensor arguments, so gradients
// of gradients close over {conv2d, conv2d_backward_input, conv2d_backward_weight}:
//   backward_input(g, w):  d/dg <- conv2d(G, w)          d/dw <- backward_weight(g, G)
//   backward_weight(g, x): d/dg <- conv2d(x, G)          d/dx <- backward_input(g, G)
// (from <conv2d(x, w), g> = <x, backward_input(g, w)> = <w, backward_weight(g, x)>).
// With stride > 1 the last rows/columns of x that no window reaches get a zero gradient, which
// is why the backward ops take the shape they produce.
//
// CPU: the reference is the direct 7-deep loop. The fast path (conv2d_gemm_cpu.cpp) runs the
// forward and both gradients as GEMMs on Signet's blocked AVX-512 GEMM with the im2col matrix
// [C*kh*kw, images*Ho*Wo] never written: its micro-panels are packed straight from the image,
// and the input gradient's tiles are added back onto the image as they leave the kernel.
// The batch is split over OpenMP threads, one GEMM per thread over its images (so small
// outputs such as resnet50's 2x2 last stage still make wide GEMMs); with fewer images than
// threads, or an uneven split, the GEMM's own threads share the work.
#pragma once
#include "engine/tensor.h"

namespace signet {

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, int64_t stride_h,
              int64_t stride_w, int64_t pad_h, int64_t pad_w);
// Square stride and padding.
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias = Tensor(), int64_t stride = 1,
              int64_t padding = 0);
Tensor conv2d_backward_input(const Tensor& g, const Tensor& w, const Shape& input_shape,
                             int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w);
Tensor conv2d_backward_weight(const Tensor& g, const Tensor& x, const Shape& weight_shape,
                              int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w);

// All sizes of one convolution. x [N,C,H,W], w [O,C,kh,kw], y [N,O,Ho,Wo].
struct Conv2dGeom {
  int64_t N, C, H, W, O, kh, kw, sh, sw, ph, pw, Ho, Wo;
};
// Fills Ho and Wo; Error (naming `op`) for non-positive strides, negative padding, or a kernel
// larger than the padded input.
Conv2dGeom conv2d_geom(const char* op, const Shape& x, const Shape& w, int64_t sh, int64_t sw,
                       int64_t ph, int64_t pw);

namespace cpu {
// All buffers contiguous. bias may be null.
void conv2d_ref(const Conv2dGeom& g, const float* x, const float* w, const float* bias, float* y);
void conv2d_fast(const Conv2dGeom& g, const float* x, const float* w, const float* bias, float* y);
// dx = backward_input(dy, w); overwrites dx.
void conv2d_backward_input_ref(const Conv2dGeom& g, const float* dy, const float* w, float* dx);
void conv2d_backward_input_fast(const Conv2dGeom& g, const float* dy, const float* w, float* dx);
// dw = backward_weight(dy, x); overwrites dw.
void conv2d_backward_weight_ref(const Conv2dGeom& g, const float* dy, const float* x, float* dw);
void conv2d_backward_weight_fast(const Conv2dGeom& g, const float* dy, const float* x, float* dw);
}  // namespace cpu

}  // namespace signet
