// The losses' and dropout's CPU loops (engine/ops/loss.h, engine/ops/dropout.h).
#include <algorithm>
#include <cmath>

#include "engine/ops/dropout.h"
#include "engine/ops/loss.h"

namespace signet::cpu {

void one_hot(const int64_t* labels, int64_t n, int64_t classes, float* out) {
  std::fill(out, out + n * classes, 0.0f);
  for (int64_t i = 0; i < n; ++i) out[i * classes + labels[i]] = 1.0f;
}

double bce_with_logits_sum(const float* x, const float* t, int64_t n) {
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double v = x[i], tv = t[i];
    total += std::max(v, 0.0) - v * tv + std::log1p(std::exp(-std::abs(v)));
  }
  return total;
}

int64_t labels_to_binary(const int64_t* y, int64_t n, float* t) {
  for (int64_t i = 0; i < n; ++i) {
    if (y[i] != 0 && y[i] != 1) return i;
    t[i] = static_cast<float>(y[i]);
  }
  return -1;
}

int64_t count_equal(const int64_t* a, const int64_t* b, int64_t n) {
  int64_t same = 0;
  for (int64_t i = 0; i < n; ++i) same += a[i] == b[i];
  return same;
}

int64_t count_sign_agreement(const float* z, const int64_t* y, int64_t n) {
  int64_t same = 0;
  for (int64_t i = 0; i < n; ++i) same += (z[i] > 0) == (y[i] == 1);
  return same;
}

void dropout_mask(float* mask, int64_t n, float p, Rng& rng) {
  const float scale = 1.0f / (1.0f - p);
  // 64 random bits give two 32-bit uniforms: a keep decision each (p resolved to 2^-32).
  const uint64_t threshold = static_cast<uint64_t>(static_cast<double>(p) * 4294967296.0);
  int64_t i = 0;
  while (i < n) {
    uint64_t r = rng.next_u64();
    for (int k = 0; k < 2 && i < n; ++k, ++i, r >>= 32) mask[i] = (r & 0xFFFFFFFFULL) >= threshold ? scale : 0.0f;
  }
}

}  // namespace signet::cpu
