// Fused optimizer steps, one pass over a parameter tensor: the same formulas, in the same order,
// as SGD::step and Adam::step in layers/optim.cpp.
#pragma once
#include "engine/cuda/kernels/common.cuh"

namespace signet::cuda_kernels {

// SGD with weight decay; with momentum, buf holds the velocity (first: it is set to the step).
SIGNET_KERNEL sgd_kernel(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ buf, float lr,
                         float momentum, float dampening, float weight_decay, bool nesterov, bool first,
                         int64_t n) {
  for (int64_t k = global_index(); k < n; k += global_stride()) {
    const float d = g[k] + weight_decay * p[k];
    if (momentum == 0.0f) {
      p[k] -= lr * d;
      continue;
    }
    const float b = first ? d : momentum * buf[k] + (1.0f - dampening) * d;
    buf[k] = b;
    p[k] -= lr * (nesterov ? d + momentum * b : b);
  }
}

// Adam (L2 weight decay in the gradient) or AdamW (decoupled: the weights shrink first).
// step_size = lr / (1 - beta1^t), sqrt_bc2 = sqrt(1 - beta2^t), computed on the host as the CPU
// step does.
SIGNET_KERNEL adam_kernel(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ m,
                          float* __restrict__ v, float lr, float beta1, float beta2, float eps, float weight_decay,
                          bool decoupled, float step_size, float sqrt_bc2, int64_t n) {
  for (int64_t k = global_index(); k < n; k += global_stride()) {
    float d = g[k];
    if (decoupled) {
      p[k] *= 1.0f - lr * weight_decay;
    } else {
      d += weight_decay * p[k];
    }
    m[k] = beta1 * m[k] + (1.0f - beta1) * d;
    v[k] = beta2 * v[k] + (1.0f - beta2) * d * d;
    p[k] -= step_size * m[k] / (sqrtf(v[k]) / sqrt_bc2 + eps);
  }
}

}  // namespace signet::cuda_kernels
