// The optimizers' update loops on the CPU (layers/optim.h has the formulas, PyTorch's); the GPU's
// are engine/cuda/kernels/optim.cuh. One call updates one parameter tensor of n floats in place.
#pragma once
#include <cstdint>

namespace signet::cpu {

// buf null: no momentum (p -= lr (g + wd p)). Else, first: buf = d, later buf = mom buf + (1 - damp) d,
// with d = g + wd p; p -= lr (nesterov ? d + mom buf : buf).
void sgd_step(float* p, const float* g, float* buf, float lr, float mom, float damp, float wd, bool nesterov,
              bool first, int64_t n);
// decoupled (AdamW): p *= 1 - lr wd, else d = g + wd p; m, v the moving averages;
// p -= step_size m / (sqrt(v) / sqrt_bc2 + eps).
void adam_step(float* p, const float* g, float* m, float* v, float lr, float b1, float b2, float eps, float wd,
               bool decoupled, float step_size, float sqrt_bc2, int64_t n);

}  // namespace signet::cpu
