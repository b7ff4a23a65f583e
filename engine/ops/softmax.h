// softmax(x, dim)_i = e^{x_i - max} / sum_j e^{x_j - max}     (max-shifted for stability)
// log_softmax(x, dim)_i = x_i - max - log sum_j e^{x_j - max}
// Gradients: softmax: y * (g - sum(g * y, dim)); log_softmax: g - softmax(x) * sum(g, dim).
#pragma once
#include "engine/tensor.h"

namespace signet {

Tensor softmax(const Tensor& x, int64_t dim = -1);
Tensor log_softmax(const Tensor& x, int64_t dim = -1);

namespace cpu {
// x viewed as [outer, n, inner]; y the same. log selects log_softmax.
void softmax_ref(const float* x, float* y, int64_t outer, int64_t n, int64_t inner, bool log);
void softmax_fast(const float* x, float* y, int64_t outer, int64_t n, int64_t inner, bool log);
}  // namespace cpu

}  // namespace signet
