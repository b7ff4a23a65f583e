#include "engine/cpu/optim_cpu.h"

#include <cmath>

namespace signet::cpu {

void sgd_step(float* pp, const float* pg, float* b, float lr, float mom, float damp, float wd, bool nest, bool first,
              int64_t n) {
  if (!b) {
#pragma omp parallel for simd if (n >= (1 << 15))
    for (int64_t k = 0; k < n; ++k) pp[k] -= lr * (pg[k] + wd * pp[k]);
    return;
  }
#pragma omp parallel for simd if (n >= (1 << 15))
  for (int64_t k = 0; k < n; ++k) {
    const float d = pg[k] + wd * pp[k];
    b[k] = first ? d : mom * b[k] + (1.0f - damp) * d;
    pp[k] -= lr * (nest ? d + mom * b[k] : b[k]);
  }
}

void adam_step(float* pp, const float* pg, float* m, float* v, float lr, float b1, float b2, float eps, float wd,
               bool decoupled, float step_size, float sqrt_bc2, int64_t n) {
#pragma omp parallel for simd if (n >= (1 << 15))
  for (int64_t k = 0; k < n; ++k) {
    float d = pg[k];
    if (decoupled) {
      pp[k] *= 1.0f - lr * wd;
    } else {
      d += wd * pp[k];
    }
    m[k] = b1 * m[k] + (1.0f - b1) * d;
    v[k] = b2 * v[k] + (1.0f - b2) * d * d;
    pp[k] -= step_size * m[k] / (std::sqrt(v[k]) / sqrt_bc2 + eps);
  }
}

}  // namespace signet::cpu
