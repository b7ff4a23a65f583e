// Convolutions whose output has at most 4 pixels per image (resnet50's last stage at 64x64
// input: 2x2 images), over a batch too large for conv2d_narrow.h. With padding, most of such a
// layer's im2col matrix is padding: a 3x3 kernel with padding 1 over a 2x2 image meets a real
// pixel with 4 of its 9 taps at each output, so the GEMM paths multiply 5 zeros for every 4
// products. Here each output pixel visits only its real taps, and the weights are read in
// place, once (which also makes the forward of a 1x1 kernel faster than the packed GEMM's, whose
// packed weights each serve only the batch's few pixels). conv2d_tiny_cpu.cpp; buffers as in
// conv2d.h.
#pragma once
#include "engine/cpu/gemm_blocked.h"
#include "engine/ops/conv2d.h"

namespace signet::cpu {
#if SIGNET_HAVE_AVX512_GEMM
bool conv2d_tiny_applies(const Conv2dGeom& g);
// The input gradient reads w by columns; for a 1x1 kernel the transposed GEMM's packing is
// faster, so it is only taken for larger kernels.
bool conv2d_tiny_backward_input_applies(const Conv2dGeom& g);
// y (overwritten) = conv2d(x, w) + bias (bias may be null).
void conv2d_tiny_forward(const Conv2dGeom& g, const float* x, const float* w, const float* bias, float* y);
// dx (overwritten) from dy and w [O][C][kh][kw], any stride and padding.
void conv2d_tiny_backward_input(const Conv2dGeom& g, const float* dy, const float* w, float* dx);
#else
inline bool conv2d_tiny_applies(const Conv2dGeom&) { return false; }
inline bool conv2d_tiny_backward_input_applies(const Conv2dGeom&) { return false; }
inline void conv2d_tiny_forward(const Conv2dGeom&, const float*, const float*, const float*, float*) {}
inline void conv2d_tiny_backward_input(const Conv2dGeom&, const float*, const float*, float*) {}
#endif
}  // namespace signet::cpu
