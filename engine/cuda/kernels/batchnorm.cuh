// Batch normalisation (engine/ops/batchnorm.h), x viewed as [N, C, S]: per-channel statistics,
// the per-channel scale and shift (and PyTorch's running-statistics update), the apply, and the
// fused backward. Ours rather than cuDNN's: the same kernels run on the SIMT harness against
// the CPU reference, and the op keeps its own saved mean and invstd for the composed double
// backward. Channel sums are one block per channel, in float, in a fixed order.
#pragma once
#include "engine/cuda/kernels/common.cuh"

namespace signet::cuda_kernels {

// Element k of channel c, for k in [0, N*S): x[(n*C + c)*S + i] with n = k / S, i = k % S.
SIGNET_DEVICE int64_t channel_at(int64_t c, int64_t k, int64_t C, int64_t S) { return ((k / S) * C + c) * S + k % S; }

// mean[c] and the biased var[c] over the channel's N*S values (two passes).
SIGNET_KERNEL batch_norm_stats_kernel(const float* __restrict__ x, int64_t N, int64_t C, int64_t S,
                                      float* __restrict__ mean, float* __restrict__ var) {
  SIGNET_SHARED(float, scratch, 32);
  const int64_t m = N * S;
  for (int64_t c = blockIdx.x; c < C; c += gridDim.x) {
    float s = 0.0f;
    for (int64_t k = threadIdx.x; k < m; k += blockDim.x) s += x[channel_at(c, k, C, S)];
    const float mu = block_sum(s, scratch) / static_cast<float>(m);
    float q = 0.0f;
    for (int64_t k = threadIdx.x; k < m; k += blockDim.x) {
      const float d = x[channel_at(c, k, C, S)] - mu;
      q += d * d;
    }
    const float v = block_sum(q, scratch) / static_cast<float>(m);
    if (threadIdx.x == 0) {
      mean[c] = mu;
      var[c] = v;
    }
  }
}

// Per channel: invstd = 1/sqrt(var + eps), scale = weight * invstd, shift = bias - mean * scale
// (weight, bias may be null: ones, zeros); when running_mean is not null, the running statistics
// move by momentum towards mean and var * unbias (PyTorch's update).
SIGNET_KERNEL batch_norm_channel_kernel(const float* __restrict__ mean, const float* __restrict__ var,
                                        const float* __restrict__ weight, const float* __restrict__ bias, float eps,
                                        float* __restrict__ invstd, float* __restrict__ scale,
                                        float* __restrict__ shift, float* __restrict__ running_mean,
                                        float* __restrict__ running_var, float momentum, float unbias, int64_t C) {
  for (int64_t c = global_index(); c < C; c += global_stride()) {
    const float is = 1.0f / sqrtf(var[c] + eps);
    const float sc = (weight ? weight[c] : 1.0f) * is;
    invstd[c] = is;
    scale[c] = sc;
    shift[c] = (bias ? bias[c] : 0.0f) - mean[c] * sc;
    if (running_mean) {
      running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * mean[c];
      running_var[c] = (1.0f - momentum) * running_var[c] + momentum * var[c] * unbias;
    }
  }
}

// y = x * scale[c] + shift[c].
SIGNET_KERNEL batch_norm_apply_kernel(const float* __restrict__ x, const float* __restrict__ scale,
                                      const float* __restrict__ shift, float* __restrict__ y, int64_t N, int64_t C,
                                      int64_t S) {
  const int64_t total = N * C * S;
  for (int64_t k = global_index(); k < total; k += global_stride()) {
    const int64_t c = (k / S) % C;
    y[k] = x[k] * scale[c] + shift[c];
  }
}

// Per channel: sum_g[c] = sum g, sum_gxhat[c] = sum g * (x - mean) * invstd.
SIGNET_KERNEL batch_norm_backward_sums_kernel(const float* __restrict__ g, const float* __restrict__ x,
                                              const float* __restrict__ mean, const float* __restrict__ invstd,
                                              int64_t N, int64_t C, int64_t S, float* __restrict__ sum_g,
                                              float* __restrict__ sum_gxhat) {
  SIGNET_SHARED(float, scratch, 32);
  const int64_t m = N * S;
  for (int64_t c = blockIdx.x; c < C; c += gridDim.x) {
    float a = 0.0f, b = 0.0f;
    for (int64_t k = threadIdx.x; k < m; k += blockDim.x) {
      const int64_t at = channel_at(c, k, C, S);
      a += g[at];
      b += g[at] * (x[at] - mean[c]) * invstd[c];
    }
    const float sa = block_sum(a, scratch);
    const float sb = block_sum(b, scratch);
    if (threadIdx.x == 0) {
      sum_g[c] = sa;
      sum_gxhat[c] = sb;
    }
  }
}

// dx = weight * invstd * (g - sum_g / m - xhat * sum_gxhat / m) when training, else
// weight * invstd * g (weight may be null: ones).
SIGNET_KERNEL batch_norm_backward_dx_kernel(const float* __restrict__ g, const float* __restrict__ x,
                                            const float* __restrict__ mean, const float* __restrict__ invstd,
                                            const float* __restrict__ weight, const float* __restrict__ sum_g,
                                            const float* __restrict__ sum_gxhat, bool training,
                                            float* __restrict__ dx, int64_t N, int64_t C, int64_t S) {
  const int64_t total = N * C * S;
  const float m = static_cast<float>(N * S);
  for (int64_t k = global_index(); k < total; k += global_stride()) {
    const int64_t c = (k / S) % C;
    const float w = (weight ? weight[c] : 1.0f) * invstd[c];
    if (training) {
      const float xhat = (x[k] - mean[c]) * invstd[c];
      dx[k] = w * (g[k] - sum_g[c] / m - xhat * sum_gxhat[c] / m);
    } else {
      dx[k] = w * g[k];
    }
  }
}

}  // namespace signet::cuda_kernels
