// Small helpers shared by the model builders (models/*.cpp); not part of the public API.
#pragma once
#include <cmath>
#include <string>

#include "engine/rng.h"
#include "engine/tensor.h"
#include "models/registry.h"

namespace signet::model_util {

// Checks that `c.input_shape` is C,H,W with H, W >= min_hw; the Error names the model and says
// a token data set does not fit an image model.
inline void require_image_input(const std::string& model, const ModelConfig& c, int64_t min_hw) {
  SIGNET_CHECK(c.input_shape.size() == 3,
               "{}: takes images C,H,W, got input shape {}{}", model, shape_str(c.input_shape),
               c.input_shape.size() == 1 ? " (token sequences: use imdb-lstm for a text data set)" : "");
  SIGNET_CHECK(c.input_shape[0] >= 1 && c.input_shape[1] >= min_hw && c.input_shape[2] >= min_hw,
               "{}: input {} is too small: height and width must be >= {} (pad the images, e.g. --pad-to 32)",
               model, shape_str(c.input_shape), min_hw);
}

// PyTorch's kaiming_normal_(w, mode='fan_out', nonlinearity='relu') for a conv weight
// [O, C, kh, kw]: N(0, 2 / (O * kh * kw)), drawn in row-major order.
inline void kaiming_normal_fan_out(Tensor& w, Rng& rng) {
  const auto& s = w.shape();
  const double stddev = std::sqrt(2.0 / static_cast<double>(s[0] * s[2] * s[3]));
  float* p = w.f32();
  for (int64_t i = 0, n = w.numel(); i < n; ++i) p[i] = static_cast<float>(rng.normal() * stddev);
}

}  // namespace signet::model_util
