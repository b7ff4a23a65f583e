// Weight quantization (watermark/attacks/attacks.h).
#include <algorithm>
#include <cmath>

#include "watermark/attacks/attacks.h"

namespace signet {

QuantizeReport quantize_weights(Model& model, int bits) {
  SIGNET_CHECK(bits >= 1 && bits <= 16, "quantization takes 1 to 16 bits, got {}", bits);
  const auto weights = layer_weights(model);
  SIGNET_CHECK(!weights.empty(), "{} has no Linear or Conv2d weights to quantize", model.name);
  QuantizeReport rep;
  rep.bits = bits;
  const double levels = std::ldexp(1.0, bits) - 1;  // steps between min and max
  for (const auto& [name, w] : weights) {
    SIGNET_CHECK(w.is_contiguous() && w.dtype() == DType::F32, "{}: quantization needs a contiguous float32 tensor",
                 name);
    float* p = w.f32();
    const int64_t n = w.numel();
    if (n == 0) continue;
    const auto [lo_it, hi_it] = std::minmax_element(p, p + n);
    const double lo = *lo_it, hi = *hi_it;
    ++rep.tensors;
    if (hi == lo) continue;  // one value: already on the (single) level
    const double step = (hi - lo) / levels;
    for (int64_t i = 0; i < n; ++i) {
      // Level index first, then its value: each level maps to one float, so a tensor holds at
      // most 2^bits distinct values.
      const double q = std::clamp(std::round((p[i] - lo) / step), 0.0, levels);
      const float v = static_cast<float>(lo + q * step);
      rep.max_abs_error = std::max(rep.max_abs_error, std::fabs(static_cast<double>(v) - p[i]));
      p[i] = v;
    }
  }
  return rep;
}

}  // namespace signet
