// Stride-1 convolutions whose GEMMs read the (padded) image in place: conv2d_direct_cpu.cpp.
// Used by the fast convolution (conv2d_gemm_cpu.cpp) where *_applies says so; buffers as in
// conv2d.h (contiguous; dx and dw overwritten).
#pragma once
#include "engine/ops/conv2d.h"
#include "engine/cpu/gemm_blocked.h"

namespace signet::cpu {
#if SIGNET_HAVE_AVX512_GEMM
bool conv2d_direct_applies(const Conv2dGeom& g);
void conv2d_direct(const Conv2dGeom& g, const float* x, const float* w, const float* bias, float* y);
void conv2d_direct_backward_weight(const Conv2dGeom& g, const float* dy, const float* x, float* dw);
#else
inline bool conv2d_direct_applies(const Conv2dGeom&) { return false; }
inline void conv2d_direct(const Conv2dGeom&, const float*, const float*, const float*, float*) {}
inline void conv2d_direct_backward_weight(const Conv2dGeom&, const float*, const float*, float*) {}
#endif
}  // namespace signet::cpu
