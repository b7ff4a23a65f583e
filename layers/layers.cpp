#include "layers/layers.h"

#include <cmath>

#include "engine/ops.h"
#include "engine/profiler.h"
#include "layers/conv_layers.h"

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

Tensor add_then_relu(Module& relu, const Tensor& a, const Tensor& b, Taps* taps) {
  Tensor y;
  {
    profiler::LayerScope profile_layer(&relu, relu.path(), [&relu] { return relu.type_name(); });
    y = add_relu(a, b);
  }
  if (taps && !relu.path().empty() && taps->wants(relu.path())) taps->got[relu.path()] = y;
  return y;
}

Sequential& Sequential::add(const std::string& name, std::shared_ptr<Module> m) {
  register_module(name, std::move(m));
  return *this;
}

// Two neighbours run as one where the result and every tap asked for are the same:
//   BatchNorm then ReLU: batch_norm_then_relu (one pass each way; it handles the taps);
//   ReLU then MaxPool2d, neither tapped: the pool first, then the ReLU on a quarter of the
//   values (max and ReLU commute, and the gradient reaches the same element).
Tensor Sequential::forward(const Tensor& x, Taps* taps) {
  auto tapped = [taps](const Module& m) { return taps && !m.path().empty() && taps->wants(m.path()); };
  Tensor h = x;
  for (size_t i = 0; i < children_.size(); ++i) {
    Module& a = *children_[i].second;
    Module* b = i + 1 < children_.size() ? children_[i + 1].second.get() : nullptr;
    auto* bn = dynamic_cast<BatchNormBase*>(&a);
    if (bn && dynamic_cast<ReLU*>(b)) {
      h = batch_norm_then_relu(*bn, *b, h, taps);
      ++i;
    } else if (dynamic_cast<ReLU*>(&a) && dynamic_cast<MaxPool2d*>(b) && !tapped(a) && !tapped(*b)) {
      h = a((*b)(h, taps), taps);
      ++i;
    } else {
      h = a(h, taps);
    }
  }
  return h;
}

}  // namespace signet
