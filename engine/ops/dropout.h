// dropout(x, p, training, rng): in training, each element is kept with probability 1 - p and
// scaled by 1 / (1 - p) (inverted dropout, as PyTorch), else zeroed; in eval it is x itself.
// The mask is drawn from the caller's Rng, so a run is reproducible from its seed.
// Gradient: g times the same scaled mask.
#pragma once
#include "engine/rng.h"
#include "engine/tensor.h"

namespace signet {

Tensor dropout(const Tensor& x, float p, bool training, Rng& rng);

namespace cpu {
// mask[i] = 1 / (1 - p) or 0, two keep decisions per 64 random bits of rng (engine/cpu/loss_cpu.cpp).
void dropout_mask(float* mask, int64_t n, float p, Rng& rng);
}  // namespace cpu

}  // namespace signet
