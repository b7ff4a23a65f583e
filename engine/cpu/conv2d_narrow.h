// Convolutions whose whole batch has at most NR output pixels (resnet50's last stages at
// batch 1): every weight serves only a few pixels, so the products are bound by reading the
// weights once, and the blocked GEMM's packed panels (or its 12 x 32 register tile, mostly
// empty) would cost more than the product. conv2d_narrow_cpu.cpp; buffers as in conv2d.h.
#pragma once
#include "engine/ops/conv2d.h"
#include "engine/cpu/gemm_blocked.h"

namespace signet::cpu {
#if SIGNET_HAVE_AVX512_GEMM
bool conv2d_narrow_applies(const Conv2dGeom& g);
// The forward product, with fewer pixels still (at most 8): y overwritten.
bool conv2d_narrow_forward_applies(const Conv2dGeom& g);
void conv2d_narrow_forward(const Conv2dGeom& g, const float* x, const float* w, const float* bias, float* y);
// dx (overwritten) from dy and w [O][C][kh][kw], any stride and padding.
void conv2d_narrow_backward_input(const Conv2dGeom& g, const float* dy, const float* w, float* dx);
#else
inline bool conv2d_narrow_applies(const Conv2dGeom&) { return false; }
inline bool conv2d_narrow_forward_applies(const Conv2dGeom&) { return false; }
inline void conv2d_narrow_forward(const Conv2dGeom&, const float*, const float*, const float*, float*) {}
inline void conv2d_narrow_backward_input(const Conv2dGeom&, const float*, const float*, float*) {}
#endif
}  // namespace signet::cpu
