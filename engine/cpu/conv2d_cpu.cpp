// CPU reference kernels for conv2d: the direct loops (the fast path is conv2d_gemm_cpu.cpp).
#include <algorithm>

#include "engine/ops/conv2d.h"

namespace signet::cpu {

// ---------------------------------------------------------------- reference: direct loops
void conv2d_ref(const Conv2dGeom& g, const float* x, const float* w, const float* bias, float* y) {
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t o = 0; o < g.O; ++o)
      for (int64_t i = 0; i < g.Ho; ++i)
        for (int64_t j = 0; j < g.Wo; ++j) {
          double acc = bias ? bias[o] : 0.0;
          for (int64_t c = 0; c < g.C; ++c)
            for (int64_t a = 0; a < g.kh; ++a)
              for (int64_t b = 0; b < g.kw; ++b) {
                const int64_t ih = i * g.sh - g.ph + a, iw = j * g.sw - g.pw + b;
                if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;  // zero padding
                acc += static_cast<double>(x[((n * g.C + c) * g.H + ih) * g.W + iw]) *
                       w[((o * g.C + c) * g.kh + a) * g.kw + b];
              }
          y[((n * g.O + o) * g.Ho + i) * g.Wo + j] = static_cast<float>(acc);
        }
}

// Every product x[ih,iw] * w[a,b] that fed y[i,j] sends dy[i,j] * w[a,b] back to x[ih,iw].
void conv2d_backward_input_ref(const Conv2dGeom& g, const float* dy, const float* w, float* dx) {
  std::fill(dx, dx + g.N * g.C * g.H * g.W, 0.0f);
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t o = 0; o < g.O; ++o)
      for (int64_t i = 0; i < g.Ho; ++i)
        for (int64_t j = 0; j < g.Wo; ++j) {
          const float d = dy[((n * g.O + o) * g.Ho + i) * g.Wo + j];
          for (int64_t c = 0; c < g.C; ++c)
            for (int64_t a = 0; a < g.kh; ++a)
              for (int64_t b = 0; b < g.kw; ++b) {
                const int64_t ih = i * g.sh - g.ph + a, iw = j * g.sw - g.pw + b;
                if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
                dx[((n * g.C + c) * g.H + ih) * g.W + iw] += d * w[((o * g.C + c) * g.kh + a) * g.kw + b];
              }
        }
}

// dw[o,c,a,b] = sum over n, i, j of dy[n,o,i,j] * x[n, c, i*sh - ph + a, j*sw - pw + b].
void conv2d_backward_weight_ref(const Conv2dGeom& g, const float* dy, const float* x, float* dw) {
  for (int64_t o = 0; o < g.O; ++o)
    for (int64_t c = 0; c < g.C; ++c)
      for (int64_t a = 0; a < g.kh; ++a)
        for (int64_t b = 0; b < g.kw; ++b) {
          double acc = 0;
          for (int64_t n = 0; n < g.N; ++n)
            for (int64_t i = 0; i < g.Ho; ++i)
              for (int64_t j = 0; j < g.Wo; ++j) {
                const int64_t ih = i * g.sh - g.ph + a, iw = j * g.sw - g.pw + b;
                if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
                acc += static_cast<double>(dy[((n * g.O + o) * g.Ho + i) * g.Wo + j]) *
                       x[((n * g.C + c) * g.H + ih) * g.W + iw];
              }
          dw[((o * g.C + c) * g.kh + a) * g.kw + b] = static_cast<float>(acc);
        }
}

}  // namespace signet::cpu
