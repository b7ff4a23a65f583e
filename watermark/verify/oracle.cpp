#include "watermark/verify/oracle.h"

#include <algorithm>

#include "engine/ops.h"
#include "models/trainer.h"

namespace signet {

Tensor Oracle::labels(const Tensor& inputs) {
  SIGNET_CHECK(inputs.defined() && inputs.dtype() == DType::F32 && inputs.dim() >= 2,
               "oracle {}: queries must be float32 [n, ...] inputs, got {}", describe(),
               inputs.defined() ? inputs.str() : "an undefined tensor");
  Tensor out = answer(inputs);
  SIGNET_CHECK(out.dtype() == DType::I64 && out.dim() == 1 && out.size(0) == inputs.size(0),
               "oracle {}: answered {} for {} queries", describe(), out.str(), inputs.size(0));
  queries_ += inputs.size(0);
  return out;
}

LocalModelOracle::LocalModelOracle(const std::string& path, const Normalization& fallback_norm, const std::string& model,
                                   const ModelConfig* fallback_config, int64_t batch)
    : label_(path), batch_(batch) {
  model_ = load_model(path, model, &norm_, fallback_config);
  if (norm_.mean.empty()) norm_ = fallback_norm;
}

LocalModelOracle::LocalModelOracle(Model model, Normalization norm, std::string label, int64_t batch)
    : model_(std::move(model)), norm_(std::move(norm)), label_(std::move(label)), batch_(batch) {}

Tensor LocalModelOracle::answer(const Tensor& inputs) {
  const Shape want = model_.config.input_shape;
  SIGNET_CHECK(Shape(inputs.shape().begin() + 1, inputs.shape().end()) == want,
               "{}: the model ({}) takes inputs of shape [{}], the queries are {} (keys made for another input "
               "shape cannot be asked of this model)",
               label_, model_.name, join_shape(want), shape_str(inputs.shape()));
  NoGradGuard ng;
  std::vector<Tensor> parts;
  for (int64_t i = 0; i < inputs.size(0); i += batch_) {
    const int64_t n = std::min(batch_, inputs.size(0) - i);
    const Tensor logits = predict(model_, normalise_inputs(inputs.narrow_view(0, i, n), norm_));
    if (logits.dim() == 2 && logits.size(1) == 1) {  // one-logit (binary) models: class 1 when logit > 0
      Tensor y = Tensor::empty({n}, DType::I64);
      const Tensor l = logits.contiguous();
      for (int64_t r = 0; r < n; ++r) y.i64()[r] = l.f32()[r] > 0 ? 1 : 0;
      parts.push_back(y);
    } else {
      parts.push_back(argmax(logits, 1));
    }
  }
  if (parts.empty()) return Tensor::empty({0}, DType::I64);
  return concat(parts, 0).contiguous();
}

NoisyLabelOracle::NoisyLabelOracle(std::shared_ptr<Oracle> inner, double flip_probability, uint64_t seed)
    : inner_(std::move(inner)), q_(flip_probability), rng_(seed) {
  SIGNET_CHECK(inner_ != nullptr, "NoisyLabelOracle needs an oracle to wrap");
  SIGNET_CHECK(q_ >= 0 && q_ <= 1, "the label noise probability must be in [0, 1], got {}", q_);
}

std::string NoisyLabelOracle::describe() const { return fmt::format("{} (labels randomised with p={})", inner_->describe(), q_); }

Tensor NoisyLabelOracle::answer(const Tensor& inputs) {
  Tensor y = inner_->labels(inputs).clone();
  const int64_t C = num_classes();
  for (int64_t i = 0; i < y.numel(); ++i)
    if (rng_.uniform() < q_) y.i64()[i] = static_cast<int64_t>(rng_.below(static_cast<uint64_t>(C)));
  return y;
}

}  // namespace signet
