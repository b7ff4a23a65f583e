// Softmax, log-softmax, cross-entropy and BCE-with-logits (engine/ops/softmax.h, loss.h).
#pragma once
#include "engine/cuda/kernels/common.cuh"

namespace signet::cuda_kernels {

// A row's maximum m and sum of e^(x - m), reduced over the block (every thread gets both).
template <class Shared>
SIGNET_DEVICE void row_max_and_exp_sum(const float* xr, int64_t n, Shared& scratch, float& m, float& s) {
  m = -INFINITY;
  for (int64_t k = threadIdx.x; k < n; k += blockDim.x) m = fmaxf(m, xr[k]);
  m = block_max(m, scratch);
  s = 0.0f;
  for (int64_t k = threadIdx.x; k < n; k += blockDim.x) s += expf(xr[k] - m);
  s = block_sum(s, scratch);
}

// x and y viewed as [outer, n, inner], inner == 1: one block per row of n.
SIGNET_KERNEL softmax_rows_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t outer, int64_t n,
                                  bool log) {
  SIGNET_SHARED(float, scratch, 32);
  for (int64_t o = blockIdx.x; o < outer; o += gridDim.x) {
    const float* xr = x + o * n;
    float* yr = y + o * n;
    float m, s;
    row_max_and_exp_sum(xr, n, scratch, m, s);
    const float shift = m + logf(s), inv = 1.0f / s;
    for (int64_t k = threadIdx.x; k < n; k += blockDim.x) yr[k] = log ? xr[k] - shift : expf(xr[k] - m) * inv;
  }
}

// inner > 1: one thread per (outer, inner) column walks its n values three times.
SIGNET_KERNEL softmax_columns_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t outer, int64_t n,
                                     int64_t inner, bool log) {
  const int64_t total = outer * inner;
  for (int64_t j = global_index(); j < total; j += global_stride()) {
    const int64_t base = (j / inner) * n * inner + j % inner;
    float m = -INFINITY;
    for (int64_t k = 0; k < n; ++k) m = fmaxf(m, x[base + k * inner]);
    float s = 0.0f;
    for (int64_t k = 0; k < n; ++k) s += expf(x[base + k * inner] - m);
    const float shift = m + logf(s), inv = 1.0f / s;
    for (int64_t k = 0; k < n; ++k) {
      const float v = x[base + k * inner];
      y[base + k * inner] = log ? v - shift : expf(v - m) * inv;
    }
  }
}

// Cross-entropy of logits [N, C] against int64 targets: loss[r] = logsumexp(row r) - x[r, t_r]
// (summed by the caller with sum_rows_kernel), and, when grad is not null, the gradient
// grad[r, c] = (softmax(row r)_c - [c == t_r]) * scale. A target outside [0, C) is not read:
// its row's loss is NaN, and bad_row (when not null, initially 0) ends as N - r for the first
// such row r (the largest N - r over them), for the host to name as the CPU op does.
SIGNET_KERNEL cross_entropy_kernel(const float* __restrict__ x, const int64_t* __restrict__ target,
                                   float* __restrict__ loss, float* __restrict__ grad, float scale, int64_t N,
                                   int64_t C, unsigned long long* bad_row) {
  SIGNET_SHARED(float, scratch, 32);
  for (int64_t r = blockIdx.x; r < N; r += gridDim.x) {
    const float* xr = x + r * C;
    const int64_t t = target[r];
    const bool valid = t >= 0 && t < C;
    float m, s;
    row_max_and_exp_sum(xr, C, scratch, m, s);
    const float lse = m + logf(s);
    if (threadIdx.x == 0) {
      loss[r] = valid ? lse - xr[t] : NAN;
      if (!valid && bad_row) atomicMax(bad_row, static_cast<unsigned long long>(N - r));
    }
    if (grad) {
      float* gr = grad + r * C;
      for (int64_t k = threadIdx.x; k < C; k += blockDim.x)
        gr[k] = (expf(xr[k] - lse) - (k == t ? 1.0f : 0.0f)) * scale;
    }
  }
}

// BCE with logits, elementwise: loss[i] = max(x,0) - x t + log(1 + e^{-|x|}); when the gradient
// pointers are not null, gx = (sigmoid(x) - t) * scale and gt = -x * scale.
SIGNET_KERNEL bce_with_logits_kernel(const float* __restrict__ x, const float* __restrict__ t,
                                     float* __restrict__ loss, float* __restrict__ gx, float* __restrict__ gt,
                                     float scale, int64_t n) {
  for (int64_t i = global_index(); i < n; i += global_stride()) {
    const float v = x[i], y = t[i];
    if (loss) loss[i] = fmaxf(v, 0.0f) - v * y + log1pf(expf(-fabsf(v)));
    if (gx) gx[i] = (1.0f / (1.0f + expf(-v)) - y) * scale;
    if (gt) gt[i] = -v * scale;
  }
}

}  // namespace signet::cuda_kernels
