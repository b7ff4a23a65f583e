#include "watermark/verify/oracle.h"

#include <algorithm>
#include <cmath>

#include "engine/ops.h"
#include "models/trainer.h"

namespace signet {

void Oracle::check_queries(const Tensor& inputs) const {
  SIGNET_CHECK(inputs.defined() && inputs.dtype() == DType::F32 && inputs.dim() >= 2,
               "oracle {}: queries must be float32 [n, ...] inputs, got {}", describe(),
               inputs.defined() ? inputs.str() : "an undefined tensor");
}

Tensor Oracle::labels(const Tensor& inputs) {
  check_queries(inputs);
  Tensor out = answer(inputs);
  SIGNET_CHECK(out.dtype() == DType::I64 && out.dim() == 1 && out.size(0) == inputs.size(0),
               "oracle {}: answered {} for {} queries", describe(), out.str(), inputs.size(0));
  queries_ += inputs.size(0);
  return out;
}

Tensor Oracle::scores(const Tensor& inputs) {
  SIGNET_CHECK(has_scores(), "oracle {} answers with labels only, not class scores", describe());
  check_queries(inputs);
  Tensor out = answer_scores(inputs);
  SIGNET_CHECK(out.dtype() == DType::F32 && out.dim() == 2 && out.size(0) == inputs.size(0),
               "oracle {}: answered scores {} for {} queries", describe(), out.str(), inputs.size(0));
  queries_ += inputs.size(0);
  return out;
}

Tensor Oracle::answer_scores(const Tensor&) {
  throw Error(fmt::format("oracle {} answers with labels only, not class scores", describe()));
}

LocalModelOracle::LocalModelOracle(const std::string& path, const Normalization& fallback_norm, const std::string& model,
                                   const ModelConfig* fallback_config, int64_t batch)
    : label_(path), batch_(batch) {
  model_ = load_model(path, model, &norm_, fallback_config);
  if (norm_.mean.empty()) norm_ = fallback_norm;
}

LocalModelOracle::LocalModelOracle(Model model, Normalization norm, std::string label, int64_t batch)
    : model_(std::move(model)), norm_(std::move(norm)), label_(std::move(label)), batch_(batch) {}

Tensor LocalModelOracle::logits(const Tensor& inputs) {
  const Shape want = model_.config.input_shape;
  SIGNET_CHECK(Shape(inputs.shape().begin() + 1, inputs.shape().end()) == want,
               "{}: the model ({}) takes inputs of shape [{}], the queries are {} (keys made for another input "
               "shape cannot be asked of this model)",
               label_, model_.name, join_shape(want), shape_str(inputs.shape()));
  NoGradGuard ng;
  std::vector<Tensor> parts;
  for (int64_t i = 0; i < inputs.size(0); i += batch_) {
    const int64_t n = std::min(batch_, inputs.size(0) - i);
    parts.push_back(predict(model_, normalise_inputs(inputs.narrow_view(0, i, n), norm_)));
  }
  if (parts.empty()) return Tensor::empty({0, model_.loss == "bce" ? 1 : model_.config.num_classes});
  return concat(parts, 0).contiguous();
}

Tensor LocalModelOracle::answer(const Tensor& inputs) {
  const Tensor l = logits(inputs);
  const int64_t n = inputs.size(0);
  if (n == 0) return Tensor::empty({0}, DType::I64);
  if (l.dim() == 2 && l.size(1) == 1) {  // one-logit (binary) models: class 1 when logit > 0
    Tensor y = Tensor::empty({n}, DType::I64);
    for (int64_t r = 0; r < n; ++r) y.i64()[r] = l.f32()[r] > 0 ? 1 : 0;
    return y;
  }
  return argmax(l, 1).contiguous();
}

Tensor LocalModelOracle::answer_scores(const Tensor& inputs) {
  const Tensor l = logits(inputs);
  const int64_t n = inputs.size(0);
  if (l.dim() == 2 && l.size(1) == 1) {  // one logit: P(class 1) = sigmoid(logit)
    Tensor s = Tensor::empty({n, 2});
    for (int64_t r = 0; r < n; ++r) {
      const double p1 = 1.0 / (1.0 + std::exp(-static_cast<double>(l.f32()[r])));
      s.f32()[2 * r] = static_cast<float>(1.0 - p1);
      s.f32()[2 * r + 1] = static_cast<float>(p1);
    }
    return s;
  }
  NoGradGuard ng;
  return n == 0 ? Tensor::empty({0, l.size(1)}) : softmax(l, 1).contiguous();
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
