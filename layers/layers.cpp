#include "layers/layers.h"

#include <cmath>

#include "engine/ops.h"

namespace signet {

static Tensor uniform_tensor(const Shape& shape, float bound, Rng& rng) {
  Tensor t = Tensor::empty(shape);
  float* p = t.f32();
  for (int64_t i = 0, n = t.numel(); i < n; ++i) p[i] = rng.uniform(-bound, bound);
  return t;
}

Linear::Linear(int64_t in, int64_t out, bool bias, Rng& init_rng) : in_(in), out_(out), has_bias_(bias) {
  SIGNET_CHECK(in > 0 && out > 0, "Linear({}, {}): sizes must be positive", in, out);
  const float bound = 1.0f / std::sqrt(static_cast<float>(in));
  register_parameter("weight", uniform_tensor({out, in}, bound, init_rng));
  if (bias) register_parameter("bias", uniform_tensor({out}, bound, init_rng));
}

Tensor Linear::forward(const Tensor& x, Taps*) {
  SIGNET_CHECK(x.dim() == 2 && x.size(1) == in_, "{} ({}->{}): expected input [N, {}], got {}",
               path_.empty() ? "Linear" : path_, in_, out_, in_, shape_str(x.shape()));
  return linear(x, params_[0].second, has_bias_ ? params_[1].second : Tensor());
}

Tensor ReLU::forward(const Tensor& x, Taps*) { return relu(x); }
Tensor Flatten::forward(const Tensor& x, Taps*) { return flatten(x, 1); }

Dropout::Dropout(float p) : p_(p) {
  SIGNET_CHECK(p >= 0.0f && p < 1.0f, "Dropout: probability {} must be in [0, 1)", p);
}
Tensor Dropout::forward(const Tensor& x, Taps*) { return dropout(x, p_, training_, rng()); }

Sequential& Sequential::add(const std::string& name, std::shared_ptr<Module> m) {
  register_module(name, std::move(m));
  return *this;
}

Tensor Sequential::forward(const Tensor& x, Taps* taps) {
  Tensor h = x;
  for (auto& [name, child] : children_) h = (*child)(h, taps);
  return h;
}

}  // namespace signet
