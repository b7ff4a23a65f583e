#include "watermark/uchida/uchida.h"

#include <fmt/format.h>

#include <cmath>

#include "engine/ops.h"
#include "watermark/deepsigns/hidden.h"
#include "watermark/verify/stats.h"

namespace signet {

std::vector<std::string> uchida_candidate_layers(const Model& model) {
  std::vector<std::string> conv, linear;
  for (const auto& [name, t] : model.net->named_parameters()) {
    const bool weight = name.size() >= 6 && name.compare(name.size() - 6, 6, "weight") == 0;
    if (!weight) continue;
    if (t.dim() == 4) conv.push_back(name);
    if (t.dim() == 2) linear.push_back(name);
  }
  return conv.empty() ? linear : conv;
}

std::string uchida_default_layer(const Model& model) {
  const std::vector<std::string> c = uchida_candidate_layers(model);
  SIGNET_CHECK(!c.empty(), "model {} has no Conv2d or Linear weight to carry an Uchida watermark", model.name);
  return c[(c.size() - 1) / 2];
}

Tensor uchida_weight(const Model& model, const std::string& layer) {
  for (const auto& [name, t] : model.net->named_parameters()) {
    if (name != layer) continue;
    SIGNET_CHECK(t.dim() == 2 || t.dim() == 4,
                 "--layer {} is a {}-D parameter of {}; an Uchida mark needs a Conv2d (4-D) or Linear (2-D) weight, "
                 "e.g. {}",
                 layer, t.dim(), model.name, fmt::join(uchida_candidate_layers(model), ", "));
    return t;
  }
  throw Error(fmt::format("model {} has no parameter '{}' to carry an Uchida watermark (its weight layers: {})",
                          model.name, layer, fmt::join(uchida_candidate_layers(model), ", ")));
}

Tensor uchida_carrier(const Tensor& weight) {
  const int64_t L = weight.size(0);
  return mean(reshape(weight, {L, weight.numel() / L}), {0});
}

Tensor uchida_regularizer(const Tensor& weight, const Tensor& X, const Tensor& b, float lambda) {
  const Tensor w = uchida_carrier(weight);
  const Tensor z = reshape(matmul(X, reshape(w, {w.numel(), 1})), {X.size(0)});
  // bce_with_logits averages over the bits; the paper's loss sums them.
  return mul_scalar(bce_with_logits(z, b), lambda * static_cast<float>(X.size(0)));
}

UchidaKeys uchida_key_generation(const Model& model, const std::string& layer_opt, int64_t bits, float lambda,
                                 const std::string& owner, Rng& rng) {
  UchidaKeys k;
  k.model = model.name;
  k.layer = layer_opt.empty() ? uchida_default_layer(model) : layer_opt;
  k.owner = owner;
  k.lambda = lambda;
  k.config = model.config;
  const Tensor weight = uchida_weight(model, k.layer);
  const int64_t M = weight.numel() / weight.size(0);
  SIGNET_CHECK(bits >= 1 && bits <= M,
               "--bits {} is more than layer {} can carry: its mean filter has {} weights (give --bits <= {} or a "
               "wider --layer)",
               bits, k.layer, M, M);
  k.X = Tensor::empty({bits, M});
  for (int64_t i = 0; i < k.X.numel(); ++i) k.X.f32()[i] = static_cast<float>(rng.normal());
  std::vector<int> b;
  if (!owner.empty()) {
    b = signature_from_owner(owner, bits);
  } else {
    for (int64_t i = 0; i < bits; ++i) b.push_back(static_cast<int>(rng.below(2)));
  }
  k.b = Tensor::empty({bits});
  for (int64_t i = 0; i < bits; ++i) k.b.f32()[i] = static_cast<float>(b[i]);
  return k;
}

UchidaEvidence extract_uchida(const Model& model, const UchidaKeys& keys) {
  NoGradGuard ng;
  const Tensor weight = uchida_weight(model, keys.layer);
  const Tensor w = uchida_carrier(weight);
  SIGNET_CHECK(w.numel() == keys.X.size(1), "layer {} of the suspect has {} weights per filter, the keys {}",
               keys.layer, w.numel(), keys.X.size(1));
  const std::vector<float> z = matmul(keys.X, reshape(w, {w.numel(), 1})).to_vector();
  const BitMatch m = match_projected_bits(z, keys.b.to_vector());
  UchidaEvidence ev;
  ev.ber = m.ber;
  ev.total = m.total;
  ev.matches = m.matches;
  ev.p_value = m.p_value;
  return ev;
}

TrainResult embed_uchida(Model& model, const Dataset& train, const Normalization& norm, const UchidaKeys& keys,
                         TrainConfig cfg) {
  const Tensor probe = uchida_weight(model, keys.layer);
  SIGNET_CHECK(probe.numel() / probe.size(0) == keys.X.size(1), "layer {} has {} weights per filter, the keys {}",
               keys.layer, probe.numel() / probe.size(0), keys.X.size(1));
  cfg.taps.clear();
  cfg.extra_params.clear();
  const Model* m = &model;
  // The parameter is looked up on every step: the regularizer must see the tensor the optimizer updates.
  cfg.extra_loss = [m, &keys](const Batch&, const Tensor&, const Taps&) {
    return uchida_regularizer(uchida_weight(*m, keys.layer), keys.X, keys.b, keys.lambda);
  };
  return train_model(model, train, norm, cfg);
}

// ------------------------------------------------------------------ keys file
NamedTensors uchida_keys_tensors(const UchidaKeys& k) {
  NamedTensors nt;
  nt.tensors = {{"X", k.X}, {"b", k.b}};
  nt.metadata = k.extra;
  nt.metadata["signet.model"] = k.model;
  nt.metadata["signet.layer"] = k.layer;
  nt.metadata["signet.dataset"] = k.dataset;
  nt.metadata["signet.owner"] = k.owner;
  nt.metadata["signet.signature_source"] =
      k.owner.empty() ? "random bits from the key generator" : "SHA-256 of the owner string";
  nt.metadata["signet.bits"] = std::to_string(k.bits());
  nt.metadata["signet.lambda"] = fmt::format("{}", k.lambda);
  nt.metadata["signet.num_classes"] = std::to_string(k.config.num_classes);
  nt.metadata["signet.input_shape"] = fmt::format("{}", fmt::join(k.config.input_shape, ","));
  return nt;
}

UchidaKeys uchida_keys_from_file(const KeysFile& kf) {
  SIGNET_CHECK(kf.scheme == "uchida", "{}: holds keys of scheme '{}', not uchida", kf.path, kf.scheme);
  UchidaKeys k;
  k.model = kf.meta("signet.model");
  k.layer = kf.meta("signet.layer");
  k.dataset = kf.meta("signet.dataset");
  k.owner = kf.meta("signet.owner");
  k.X = kf.nt.at("X");
  k.b = kf.nt.at("b");
  k.norm = kf.norm();
  k.extra = kf.nt.metadata;
  try {
    k.lambda = std::stof(kf.meta("signet.lambda"));
    k.config.num_classes = parse_size(kf.meta("signet.num_classes"), kf.path + ": signet.num_classes");
    k.config.input_shape = split_shape(kf.meta("signet.input_shape"), kf.path + ": signet.input_shape");
  } catch (const std::logic_error&) {
    throw Error(fmt::format("{}: bad number in the keys metadata", kf.path));
  }
  SIGNET_CHECK(k.X.dtype() == DType::F32 && k.X.dim() == 2 && k.b.dtype() == DType::F32 && k.b.dim() == 1 &&
                   k.b.size(0) == k.X.size(0),
               "{}: inconsistent key shapes (X {}, b {})", kf.path, shape_str(k.X.shape()), shape_str(k.b.shape()));
  return k;
}

}  // namespace signet
