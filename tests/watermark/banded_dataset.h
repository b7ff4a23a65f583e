// Ten separable classes of 28x28 images for fast watermark tests: class c lights up its own
// band of three rows, plus uniform noise.
#pragma once
#include "datasets/dataset.h"
#include "engine/rng.h"

namespace signet::test {

inline Dataset banded(int64_t n, uint64_t seed) {
  Rng rng(seed);
  Dataset d;
  d.name = "banded";
  d.images = Tensor::empty({n, 1, 28, 28});
  d.labels = Tensor::empty({n}, DType::I64);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = i % 10;
    d.labels.i64()[i] = c;
    for (int64_t p = 0; p < 784; ++p)
      d.images.f32()[i * 784 + p] = ((p / 28) / 3 == c ? 0.8f : 0.1f) + 0.2f * static_cast<float>(rng.uniform());
  }
  return d;
}

}  // namespace signet::test
