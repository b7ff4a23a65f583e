// 3x3 stride-1 convolutions by Winograd's F(2x2, 3x3) (conv2d_winograd_cpu.cpp) or F(4x4, 3x3). Used by the
// fast convolution (conv2d_gemm_cpu.cpp) where conv2d_winograd_applies says so, for the forward
// product, (through the flipped kernel) the input gradient, and the weight gradient. SIGNET_WINOGRAD=0 in the
// environment turns it off (then every product is an im2col GEMM, rounded as the reference).
#pragma once
#include "engine/ops/conv2d.h"
#include "engine/cpu/gemm_blocked.h"

namespace signet::cpu {
#if SIGNET_HAVE_AVX512_GEMM
bool conv2d_winograd_applies(const Conv2dGeom& g);
// flipped: w is the weight [C][O][3][3] of the layer whose input gradient g computes (g's
// kernel (o, c) is w[c][o] turned by 180 degrees), read in place rather than copied first.
void conv2d_winograd(const Conv2dGeom& g, const float* x, const float* w, const float* bias, float* y,
                     bool flipped = false);
// The two tile sizes conv2d_winograd chooses between (the tests call each): F(2x2, 3x3) runs
// wherever conv2d_winograd_applies; F(4x4, 3x3) (conv2d_winograd43_cpu.cpp) is taken where
// conv2d_winograd43_applies too: where its tiles need fewer multiplies and its buffers fit.
void conv2d_winograd23(const Conv2dGeom& g, const float* x, const float* w, const float* bias, float* y,
                       bool flipped);
bool conv2d_winograd43_applies(const Conv2dGeom& g);
void conv2d_winograd43(const Conv2dGeom& g, const float* x, const float* w, const float* bias, float* y,
                       bool flipped);
// The weight gradient the same way (conv2d_winograd_wgrad_cpu.cpp); dw overwritten. It takes
// F(4x4, 3x3)'s tiles where conv2d_winograd_weight43_applies, F(2x2, 3x3)'s otherwise.
bool conv2d_winograd_weight_applies(const Conv2dGeom& g);
bool conv2d_winograd_weight43_applies(const Conv2dGeom& g);
void conv2d_winograd_weight(const Conv2dGeom& g, const float* dy, const float* x, float* dw);
// Each tile size directly (the tests call both), where conv2d_winograd_weight_applies.
void conv2d_winograd_weight23(const Conv2dGeom& g, const float* dy, const float* x, float* dw);
void conv2d_winograd_weight43(const Conv2dGeom& g, const float* dy, const float* x, float* dw);
#else
inline bool conv2d_winograd_applies(const Conv2dGeom&) { return false; }
inline void conv2d_winograd(const Conv2dGeom&, const float*, const float*, const float*, float*, bool = false) {}
inline bool conv2d_winograd_weight_applies(const Conv2dGeom&) { return false; }
inline bool conv2d_winograd_weight43_applies(const Conv2dGeom&) { return false; }
inline void conv2d_winograd_weight23(const Conv2dGeom&, const float*, const float*, float*) {}
inline void conv2d_winograd_weight43(const Conv2dGeom&, const float*, const float*, float*) {}
inline void conv2d_winograd_weight(const Conv2dGeom&, const float*, const float*, float*) {}
inline void conv2d_winograd23(const Conv2dGeom&, const float*, const float*, const float*, float*, bool) {}
inline bool conv2d_winograd43_applies(const Conv2dGeom&) { return false; }
inline void conv2d_winograd43(const Conv2dGeom&, const float*, const float*, const float*, float*, bool) {}
#endif
}  // namespace signet::cpu
