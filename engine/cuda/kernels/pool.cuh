// Max pooling (engine/ops/pool.h): the forward with its argmax positions, the backward that
// routes each gradient to its position, and the gather that is the backward's own adjoint
// (double backward). Ours rather than cuDNN's: cuDNN's pooling backward re-derives the argmax
// from x and y and exposes no indices, and the op saves them for its backward and gathers through
// them for its second derivative.
#pragma once
#include "engine/cuda/kernels/common.cuh"
#include "engine/cuda/kernels/types.h"

namespace signet::cuda_kernels {

// One thread per output element: the window's first maximum (row-major; NaN wins, padding never
// chosen), its flat position ih * W + iw in the input plane.
SIGNET_KERNEL max_pool2d_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t* __restrict__ idx,
                                PoolShape g) {
  const int64_t total = g.N * g.C * g.Ho * g.Wo;
  for (int64_t o = global_index(); o < total; o += global_stride()) {
    const int64_t j = o % g.Wo, i = (o / g.Wo) % g.Ho, plane = o / (g.Wo * g.Ho);
    const float* xp = x + plane * g.H * g.W;
    float best = -INFINITY;
    int64_t where = -1;
    for (int64_t a = 0; a < g.k; ++a) {
      const int64_t ih = i * g.s - g.p + a;
      if (ih < 0 || ih >= g.H) continue;
      for (int64_t b = 0; b < g.k; ++b) {
        const int64_t iw = j * g.s - g.p + b;
        if (iw < 0 || iw >= g.W) continue;
        const float v = xp[ih * g.W + iw];
        if (where < 0) where = ih * g.W + iw;
        if (v > best || v != v) {  // v != v: NaN
          best = v;
          where = ih * g.W + iw;
        }
      }
    }
    y[o] = best;
    idx[o] = where;
  }
}

// dx (zeroed first) += dy at each output's position. Windows that overlap (stride < k) may add
// to one position from several threads: atomics, so the order of those additions is not fixed.
// Positions outside the plane are skipped (the op's indices come from max_pool2d_kernel).
SIGNET_KERNEL max_pool2d_backward_kernel(const float* __restrict__ dy, const int64_t* __restrict__ idx,
                                         float* __restrict__ dx, PoolShape g) {
  const int64_t total = g.N * g.C * g.Ho * g.Wo, hw = g.H * g.W;
  for (int64_t o = global_index(); o < total; o += global_stride()) {
    const int64_t plane = o / (g.Ho * g.Wo), at = idx[o];
    if (at >= 0 && at < hw) atomicAdd(dx + plane * hw + at, dy[o]);
  }
}

// y[o] = G at output o's position: the adjoint of the backward.
SIGNET_KERNEL max_pool2d_gather_kernel(const float* __restrict__ G, const int64_t* __restrict__ idx,
                                       float* __restrict__ y, PoolShape g) {
  const int64_t total = g.N * g.C * g.Ho * g.Wo, hw = g.H * g.W;
  for (int64_t o = global_index(); o < total; o += global_stride()) {
    const int64_t plane = o / (g.Ho * g.Wo), at = idx[o];
    y[o] = at >= 0 && at < hw ? G[plane * hw + at] : 0.0f;
  }
}

// Average pooling (padding counted as zeros: count_include_pad). One thread per output.
SIGNET_KERNEL avg_pool2d_kernel(const float* __restrict__ x, float* __restrict__ y, PoolShape g) {
  const int64_t total = g.N * g.C * g.Ho * g.Wo;
  for (int64_t o = global_index(); o < total; o += global_stride()) {
    const int64_t j = o % g.Wo, i = (o / g.Wo) % g.Ho, plane = o / (g.Wo * g.Ho);
    const float* xp = x + plane * g.H * g.W;
    float acc = 0.0f;
    for (int64_t a = 0; a < g.k; ++a) {
      const int64_t ih = i * g.s - g.p + a;
      if (ih < 0 || ih >= g.H) continue;
      for (int64_t b = 0; b < g.k; ++b) {
        const int64_t iw = j * g.s - g.p + b;
        if (iw >= 0 && iw < g.W) acc += xp[ih * g.W + iw];
      }
    }
    y[o] = acc / static_cast<float>(g.k * g.k);
  }
}

// Its adjoint, one thread per input element: the sum of dy / (k k) over the windows that cover
// it (a gather, so no atomics and a fixed order).
SIGNET_KERNEL avg_pool2d_backward_kernel(const float* __restrict__ dy, float* __restrict__ dx, PoolShape g) {
  const int64_t total = g.N * g.C * g.H * g.W;
  const float scale = 1.0f / static_cast<float>(g.k * g.k);
  for (int64_t e = global_index(); e < total; e += global_stride()) {
    const int64_t iw = e % g.W, ih = (e / g.W) % g.H, plane = e / (g.W * g.H);
    // Windows i with i s - p <= ih < i s - p + k.
    const int64_t i_lo = ih + g.p - g.k + 1 > 0 ? (ih + g.p - g.k + 1 + g.s - 1) / g.s : 0;
    const int64_t i_hi = (ih + g.p) / g.s < g.Ho - 1 ? (ih + g.p) / g.s : g.Ho - 1;
    const int64_t j_lo = iw + g.p - g.k + 1 > 0 ? (iw + g.p - g.k + 1 + g.s - 1) / g.s : 0;
    const int64_t j_hi = (iw + g.p) / g.s < g.Wo - 1 ? (iw + g.p) / g.s : g.Wo - 1;
    float acc = 0.0f;
    for (int64_t i = i_lo; i <= i_hi; ++i)
      for (int64_t j = j_lo; j <= j_hi; ++j) acc += dy[(plane * g.Ho + i) * g.Wo + j];
    dx[e] = acc * scale;
  }
}

}  // namespace signet::cuda_kernels
