#include "watermark/gradsigns/gradsigns.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "engine/ops.h"
#include "watermark/deepsigns/hidden.h"
#include "watermark/verify/stats.h"

namespace signet {

GradSignsKeys gradsigns_key_generation(const Model& model, const Dataset& train, const GradSignsConfig& cfg, Rng& rng) {
  SIGNET_CHECK(model.loss == "cross_entropy" && model.config.input_shape.size() == 3,
               "gradsigns marks the input gradient of an image classifier trained with cross-entropy; {} is not one",
               model.name);
  SIGNET_CHECK(train.images.dim() == 4 && Shape(train.images.shape().begin() + 1, train.images.shape().end()) ==
                                              model.config.input_shape,
               "gradsigns: the training images are {} but {} takes {}", shape_str(train.images.shape()), model.name,
               shape_str(model.config.input_shape));
  const int64_t D = shape_numel(model.config.input_shape);
  SIGNET_CHECK(cfg.carriers >= 1 && cfg.carriers <= D, "--carriers must be between 1 and {} (the input's size), got {}",
               D, cfg.carriers);
  SIGNET_CHECK(cfg.bits >= 1, "--bits must be at least 1, got {}", cfg.bits);
  SIGNET_CHECK(cfg.samples >= 1, "--samples must be at least 1, got {}", cfg.samples);
  GradSignsKeys k;
  k.model = model.name;
  k.dataset = train.name;
  k.owner = cfg.owner;
  k.lambda = cfg.lambda;
  k.step = cfg.step;
  k.num_classes = model.config.num_classes;
  k.target = static_cast<int64_t>(rng.below(static_cast<uint64_t>(k.num_classes)));
  std::vector<int64_t> positions(D);
  for (int64_t i = 0; i < D; ++i) positions[i] = i;
  rng.shuffle(positions);
  positions.resize(cfg.carriers);
  std::sort(positions.begin(), positions.end());
  k.carriers = Tensor::from_vector_i64(positions, {cfg.carriers});
  k.K = Tensor::empty({cfg.bits, cfg.carriers});
  for (int64_t i = 0; i < k.K.numel(); ++i) k.K.f32()[i] = static_cast<float>(rng.normal());
  std::vector<int> bits;
  if (!cfg.owner.empty()) {
    bits = signature_from_owner(cfg.owner, cfg.bits);
  } else {
    for (int64_t i = 0; i < cfg.bits; ++i) bits.push_back(static_cast<int>(rng.below(2)));
  }
  k.b = Tensor::empty({cfg.bits});
  for (int64_t i = 0; i < cfg.bits; ++i) k.b.f32()[i] = static_cast<float>(bits[i]);
  std::vector<int64_t> of_target;
  for (int64_t i = 0; i < train.size(); ++i)
    if (train.labels.i64()[i] == k.target) of_target.push_back(i);
  SIGNET_CHECK(!of_target.empty(), "gradsigns: the training set has no image of the target class {}", k.target);
  rng.shuffle(of_target);
  of_target.resize(std::min<size_t>(of_target.size(), static_cast<size_t>(cfg.samples)));
  k.key_indices = Tensor::from_vector_i64(of_target, {static_cast<int64_t>(of_target.size())});
  k.key_inputs = index_select(train.images, 0, k.key_indices).contiguous();
  const int64_t per_sample = cfg.carriers + 1;
  k.queries = cfg.queries > 0 ? cfg.queries : per_sample * k.key_inputs.size(0);
  SIGNET_CHECK(k.queries >= per_sample,
               "--queries {} cannot estimate one gradient: each key sample needs carriers + 1 = {} queries", k.queries,
               per_sample);
  return k;
}

Tensor carrier_gradient(Model& model, const Tensor& x_normalised, int64_t target, const Tensor& carriers,
                        const Tensor& inv_std, bool create_graph) {
  GradModeGuard on(true);
  Tensor x = x_normalised.detach().contiguous().clone();
  x.set_requires_grad(true);
  const int64_t n = x.size(0), D = x.numel() / n;
  const Tensor logits = model(x);
  const Tensor y = Tensor::from_vector_i64(std::vector<int64_t>(n, target), {n});
  // cross_entropy averages over the rows, so the rows of its input gradient sum to G-bar.
  const Tensor gx = grad(cross_entropy(logits, y), {x}, Tensor(), create_graph)[0];
  const Tensor g = index_select(sum(reshape(gx, {n, D}), {0}), 0, carriers);
  return mul(g, inv_std);
}

Tensor carrier_inv_std(const GradSignsKeys& keys, const Normalization& norm, const Shape& input_shape) {
  const int64_t n = keys.carriers.numel(), plane = input_shape[1] * input_shape[2];
  Tensor inv = Tensor::empty({n});
  for (int64_t i = 0; i < n; ++i) {
    const int64_t ch = keys.carriers.i64()[i] / plane;
    inv.f32()[i] = norm.stddev.empty() ? 1.0f : 1.0f / norm.stddev.at(ch);
  }
  return inv;
}

Tensor gradsigns_regularizer(const Tensor& g, const Tensor& K, const Tensor& b, float lambda) {
  const Tensor z = reshape(matmul(K, reshape(g, {g.numel(), 1})), {K.size(0)});
  return mul_scalar(bce_with_logits(z, b), lambda);
}

namespace {
Shape input_shape_of(const GradSignsKeys& keys) {
  return Shape(keys.key_inputs.shape().begin() + 1, keys.key_inputs.shape().end());
}
}  // namespace

Tensor exact_gradient(Model& model, const Normalization& norm_in, const GradSignsKeys& keys) {
  const Normalization& norm = norm_in.mean.empty() ? keys.norm : norm_in;
  model.net->eval();
  const Tensor inv = carrier_inv_std(keys, norm, input_shape_of(keys));
  return carrier_gradient(model, normalise_inputs(keys.key_inputs, norm), keys.target, keys.carriers, inv, false)
      .detach();
}

ZerothOrderGradient zeroth_order_gradient(Oracle& oracle, const GradSignsKeys& keys) {
  const int64_t nc = keys.carriers.numel(), per = nc + 1;
  ZerothOrderGradient out;
  out.samples = std::min(keys.key_inputs.size(0), keys.queries / per);
  SIGNET_CHECK(out.samples >= 1, "a query budget of {} cannot estimate one gradient ({} queries per key sample)",
               keys.queries, per);
  SIGNET_CHECK(keys.target < oracle.num_classes(), "the oracle answers {} classes, the keys' target class is {}",
               oracle.num_classes(), keys.target);
  const Shape shape = input_shape_of(keys);
  const int64_t D = shape_numel(shape);
  const float h = static_cast<float>(keys.step);
  std::vector<double> g(nc, 0.0);
  const int64_t before = oracle.queries();
  // -log p_T from the scores, from the other classes' mass: when p_T is close to 1 its own float
  // has too little precision left for a finite difference, the small probabilities have plenty.
  auto ce = [&](const float* p, int64_t classes) {
    double others = 0;
    for (int64_t j = 0; j < classes; ++j)
      if (j != keys.target) others += p[j];
    const double pt = std::max<double>(p[keys.target], 1e-300);
    return std::log1p(others / pt);
  };
  const int64_t chunk = 16;  // key samples per oracle call
  for (int64_t s0 = 0; s0 < out.samples; s0 += chunk) {
    const int64_t m = std::min(chunk, out.samples - s0);
    Shape qs = shape;
    qs.insert(qs.begin(), m * per);
    Tensor q = Tensor::empty(qs);
    std::vector<float> delta(m * nc);
    for (int64_t s = 0; s < m; ++s) {
      const float* x = keys.key_inputs.f32() + (s0 + s) * D;
      for (int64_t r = 0; r < per; ++r) std::copy(x, x + D, q.f32() + (s * per + r) * D);
      for (int64_t c = 0; c < nc; ++c) {
        const int64_t pos = keys.carriers.i64()[c];
        const float d = x[pos] + h <= 1.0f ? h : -h;  // stay in the pixel range a client can send
        q.f32()[(s * per + 1 + c) * D + pos] += d;
        delta[s * nc + c] = d;
      }
    }
    const Tensor sc = oracle.scores(q).contiguous();
    const int64_t classes = sc.size(1);
    for (int64_t s = 0; s < m; ++s) {
      const double base = ce(sc.f32() + (s * per) * classes, classes);
      for (int64_t c = 0; c < nc; ++c)
        g[c] += (ce(sc.f32() + (s * per + 1 + c) * classes, classes) - base) / delta[s * nc + c];
    }
  }
  out.queries = oracle.queries() - before;
  out.g = Tensor::empty({nc});
  for (int64_t c = 0; c < nc; ++c) out.g.f32()[c] = static_cast<float>(g[c] / static_cast<double>(out.samples));
  return out;
}

GradSignsEvidence gradsigns_evidence(const Tensor& g, const GradSignsKeys& keys) {
  NoGradGuard ng;
  SIGNET_CHECK(g.numel() == keys.K.size(1), "gradient of {} carriers for keys of {}", g.numel(), keys.K.size(1));
  const std::vector<float> z = matmul(keys.K, reshape(g, {g.numel(), 1})).to_vector();
  const BitMatch m = match_projected_bits(z, keys.b.to_vector());
  GradSignsEvidence ev;
  ev.ber = m.ber;
  ev.total = m.total;
  ev.matches = m.matches;
  ev.p_value = m.p_value;
  return ev;
}

TrainResult embed_gradsigns(Model& model, const Dataset& train, const Normalization& norm, const GradSignsKeys& keys,
                            TrainConfig cfg) {
  SIGNET_CHECK(input_shape_of(keys) == model.config.input_shape, "gradsigns keys for inputs {} but {} takes {}",
               shape_str(input_shape_of(keys)), model.name, shape_str(model.config.input_shape));
  const Tensor xk = normalise_inputs(keys.key_inputs, norm);
  const Tensor inv = carrier_inv_std(keys, norm, model.config.input_shape);
  cfg.taps.clear();
  cfg.extra_params.clear();
  Model* m = &model;
  cfg.extra_loss = [m, xk, inv, &keys](const Batch&, const Tensor&, const Taps&) {
    // The key batch in eval mode: the gradient a verifier will read (no dropout, BatchNorm on
    // running statistics); back to training mode for the rest of the step.
    const bool training = m->net->is_training();
    m->net->eval();
    const Tensor g = carrier_gradient(*m, xk, keys.target, keys.carriers, inv, /*create_graph=*/true);
    m->net->train(training);
    return gradsigns_regularizer(g, keys.K, keys.b, keys.lambda);
  };
  return train_model(model, train, norm, cfg);
}

// ------------------------------------------------------------------ keys file
NamedTensors gradsigns_keys_tensors(const GradSignsKeys& k) {
  NamedTensors nt;
  nt.tensors = {{"K", k.K},
                {"b", k.b},
                {"carriers", k.carriers},
                {"key_indices", k.key_indices},
                {"key_inputs", k.key_inputs}};
  nt.metadata = k.extra;
  nt.metadata["signet.model"] = k.model;
  nt.metadata["signet.dataset"] = k.dataset;
  nt.metadata["signet.owner"] = k.owner;
  nt.metadata["signet.signature_source"] =
      k.owner.empty() ? "random bits from the key generator" : "SHA-256 of the owner string";
  nt.metadata["signet.bits"] = std::to_string(k.bits());
  nt.metadata["signet.target_class"] = std::to_string(k.target);
  nt.metadata["signet.num_classes"] = std::to_string(k.num_classes);
  nt.metadata["signet.lambda"] = fmt::format("{}", k.lambda);
  nt.metadata["signet.fd_step"] = fmt::format("{}", k.step);
  nt.metadata["signet.query_budget"] = std::to_string(k.queries);
  return nt;
}

GradSignsKeys gradsigns_keys_from_file(const KeysFile& kf) {
  SIGNET_CHECK(kf.scheme == "gradsigns", "{}: holds keys of scheme '{}', not gradsigns", kf.path, kf.scheme);
  GradSignsKeys k;
  k.model = kf.meta("signet.model");
  k.dataset = kf.meta("signet.dataset");
  k.owner = kf.meta("signet.owner");
  k.K = kf.nt.at("K");
  k.b = kf.nt.at("b");
  k.carriers = kf.nt.at("carriers");
  k.key_indices = kf.nt.at("key_indices");
  k.key_inputs = kf.nt.at("key_inputs");
  k.norm = kf.norm();
  k.extra = kf.nt.metadata;
  try {
    k.target = std::stoll(kf.meta("signet.target_class"));
    k.num_classes = std::stoll(kf.meta("signet.num_classes"));
    k.lambda = std::stof(kf.meta("signet.lambda"));
    k.step = std::stod(kf.meta("signet.fd_step"));
    k.queries = std::stoll(kf.meta("signet.query_budget"));
  } catch (const std::logic_error&) {
    throw Error(fmt::format("{}: bad number in the keys metadata", kf.path));
  }
  SIGNET_CHECK(k.K.dtype() == DType::F32 && k.K.dim() == 2 && k.b.dim() == 1 && k.b.size(0) == k.K.size(0) &&
                   k.carriers.dtype() == DType::I64 && k.carriers.numel() == k.K.size(1) &&
                   k.key_inputs.dtype() == DType::F32 && k.key_inputs.dim() == 4 && k.key_inputs.size(0) >= 1,
               "{}: inconsistent key shapes (K {}, b {}, carriers {}, key inputs {})", kf.path, shape_str(k.K.shape()),
               shape_str(k.b.shape()), shape_str(k.carriers.shape()), shape_str(k.key_inputs.shape()));
  const int64_t D = k.key_inputs.numel() / k.key_inputs.size(0);
  for (int64_t c : k.carriers.to_vector_i64())
    SIGNET_CHECK(c >= 0 && c < D, "{}: carrier {} outside the input's {} positions", kf.path, c, D);
  SIGNET_CHECK(k.target >= 0 && k.target < k.num_classes && k.queries >= 1, "{}: bad target class or query budget",
               kf.path);
  return k;
}

}  // namespace signet
