#include "watermark/deepsigns/hidden.h"

#include <algorithm>
#include <cmath>

#include "engine/ops.h"
#include "engine/serialize/atomic_file.h"
#include "watermark/verify/keys_file.h"
#include "watermark/verify/stats.h"

namespace signet {

std::vector<int> signature_from_owner(const std::string& owner, int64_t nbits) {
  SIGNET_CHECK(!owner.empty(), "the owner string for --signature is empty");
  std::vector<int> bits;
  for (int64_t block = 0; static_cast<int64_t>(bits.size()) < nbits; ++block) {
    const std::string hex = sha256_hex(block == 0 ? owner : owner + "#" + std::to_string(block));
    for (char c : hex) {
      const int v = std::stoi(std::string(1, c), nullptr, 16);
      for (int k = 3; k >= 0 && static_cast<int64_t>(bits.size()) < nbits; --k) bits.push_back((v >> k) & 1);
    }
  }
  return bits;
}

std::vector<int64_t> subsample_training_data(const Dataset& train, const std::vector<int64_t>& classes,
                                             double fraction, Rng& rng) {
  SIGNET_CHECK(fraction > 0 && fraction <= 1, "the key fraction must be in (0, 1], got {}", fraction);
  std::vector<int64_t> out;
  const int64_t* y = train.labels.i64();
  for (int64_t c : classes) {
    std::vector<int64_t> idx;
    for (int64_t i = 0; i < train.size(); ++i)
      if (y[i] == c) idx.push_back(i);
    SIGNET_CHECK(!idx.empty(), "class {} has no training images to draw trigger keys from", c);
    rng.shuffle(idx);
    const int64_t take = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(fraction * idx.size())));
    out.insert(out.end(), idx.begin(), idx.begin() + take);
  }
  return out;
}

Tensor get_activations(Model& model, const Tensor& x, const Normalization& norm, const std::string& layer,
                       int64_t batch) {
  NoGradGuard ng;
  model.net->eval();
  std::vector<Tensor> parts;
  for (int64_t i = 0; i < x.size(0); i += batch) {
    const int64_t n = std::min(batch, x.size(0) - i);
    Taps taps;
    taps.wanted.insert(layer);
    model(normalise_inputs(x.narrow_view(0, i, n), norm), &taps);
    parts.push_back(flatten(taps.require(layer), 1).contiguous());
  }
  return concat(parts, 0);
}

Tensor key_class_means(Model& model, const HiddenKeys& keys) {
  const Tensor act = get_activations(model, keys.key_inputs, keys.norm, keys.layer);
  const int64_t M = act.size(1), s = static_cast<int64_t>(keys.classes.size());
  SIGNET_CHECK(M == keys.A.size(0), "layer '{}' has {} features but the keys were made for {}", keys.layer, M,
               keys.A.size(0));
  Tensor means = Tensor::zeros({s, M});
  for (int64_t k = 0; k < s; ++k) {
    int64_t count = 0;
    for (int64_t n = 0; n < act.size(0); ++n) {
      if (keys.key_labels.i64()[n] != keys.classes[k]) continue;
      ++count;
      for (int64_t m = 0; m < M; ++m) means.f32()[k * M + m] += act.f32()[n * M + m];
    }
    SIGNET_CHECK(count > 0, "the keys hold no trigger input of class {}", keys.classes[k]);
    for (int64_t m = 0; m < M; ++m) means.f32()[k * M + m] /= static_cast<float>(count);
  }
  return means;
}

std::vector<int> extract_WM_from_activations(const Tensor& means, const Tensor& A) {
  NoGradGuard ng;
  // sigmoid(z) > 0.5 exactly when z > 0.
  const Tensor z = matmul(means, A);
  std::vector<int> bits;
  for (float v : z.to_vector()) bits.push_back(v > 0 ? 1 : 0);
  return bits;
}

HiddenEvidence extract_hidden(Model& model, const HiddenKeys& keys) {
  HiddenEvidence ev;
  ev.extracted = extract_WM_from_activations(key_class_means(model, keys), keys.A);
  for (float v : keys.b.to_vector()) ev.signature.push_back(v > 0.5f ? 1 : 0);
  ev.ber = compute_BER(ev.extracted, ev.signature);
  ev.total = static_cast<int64_t>(ev.signature.size());
  ev.matches = ev.total - static_cast<int64_t>(std::llround(ev.ber * ev.total));
  ev.p_value = match_p_value(ev.total, ev.matches);
  return ev;
}

HiddenKeys key_generation(Model& model, const Dataset& train, const Normalization& norm, const HiddenConfig& cfg,
                          Rng& rng) {
  const int64_t S = model.config.num_classes;
  SIGNET_CHECK(cfg.bits >= 1, "--bits must be at least 1, got {}", cfg.bits);
  SIGNET_CHECK(cfg.classes >= 1 && cfg.classes < S, "--wm-classes must be between 1 and {}, got {}", S - 1, cfg.classes);
  HiddenKeys k;
  k.model = model.name;
  k.layer = cfg.layer;
  k.dataset = train.name;
  k.owner = cfg.owner;
  k.norm = norm;
  k.lambda1 = cfg.lambda1;
  k.lambda2 = cfg.lambda2;
  // Select_Gaussian_Classes: s distinct classes.
  std::vector<int64_t> all(S);
  for (int64_t i = 0; i < S; ++i) all[i] = i;
  rng.shuffle(all);
  k.classes.assign(all.begin(), all.begin() + cfg.classes);
  std::sort(k.classes.begin(), k.classes.end());
  // Subset_Training_Data.
  const auto idx = subsample_training_data(train, k.classes, cfg.key_fraction, rng);
  k.key_indices = Tensor::from_vector_i64(idx, {static_cast<int64_t>(idx.size())});
  k.key_inputs = index_select(train.images, 0, k.key_indices).contiguous();
  k.key_labels = index_select(train.labels, 0, k.key_indices).contiguous();
  // Generate_Secret_Matrix: A ~ N(0, 1), M from the layer's width.
  const int64_t M = get_activations(model, k.key_inputs.narrow_view(0, 0, 1), norm, cfg.layer).size(1);
  k.A = Tensor::empty({M, cfg.bits});
  for (int64_t i = 0; i < k.A.numel(); ++i) k.A.f32()[i] = static_cast<float>(rng.normal());
  std::vector<int> bits;
  if (!cfg.owner.empty()) {
    bits = signature_from_owner(cfg.owner, cfg.classes * cfg.bits);
  } else {
    for (int64_t i = 0; i < cfg.classes * cfg.bits; ++i) bits.push_back(static_cast<int>(rng.below(2)));
  }
  k.b = Tensor::empty({cfg.classes, cfg.bits});
  for (size_t i = 0; i < bits.size(); ++i) k.b.f32()[i] = static_cast<float>(bits[i]);
  return k;
}

// Class means of the layer's activations over the training set: the centres' starting point.
// *min_out receives the smallest activation seen (>= 0 for a ReLU output).
static Tensor training_class_means(Model& model, const Dataset& train, const Normalization& norm,
                                   const std::string& layer, int64_t S, float* min_out) {
  Tensor sums, counts = Tensor::zeros({S});
  float lowest = INFINITY;
  for (int64_t i = 0; i < train.size(); i += 1000) {
    const int64_t n = std::min<int64_t>(1000, train.size() - i);
    const Tensor act = get_activations(model, train.images.narrow_view(0, i, n), norm, layer);
    if (!sums.defined()) sums = Tensor::zeros({S, act.size(1)});
    const int64_t M = act.size(1);
    for (int64_t r = 0; r < n; ++r) {
      const int64_t c = train.labels.i64()[i + r];
      counts.f32()[c] += 1;
      for (int64_t m = 0; m < M; ++m) {
        sums.f32()[c * M + m] += act.f32()[r * M + m];
        lowest = std::min(lowest, act.f32()[r * M + m]);
      }
    }
  }
  for (int64_t c = 0; c < S; ++c)
    for (int64_t m = 0; m < sums.size(1); ++m) sums.f32()[c * sums.size(1) + m] /= std::max(1.0f, counts.f32()[c]);
  if (min_out) *min_out = lowest;
  return sums;
}

namespace {
// One marked layer during embedding: its keys, its centres and the classes they carry.
struct MarkedLayer {
  HiddenKeys* keys;
  Tensor mu;                 // [S, M], trainable rows = chosen classes
  std::vector<bool> chosen;  // [S]
  bool nonnegative = false;  // the layer's activations are >= 0 (a ReLU output)
};

// Squared distances between each chosen centre and each other class's centre.
std::vector<double> chosen_other_distances(const Tensor& mu, const std::vector<int64_t>& classes,
                                           const std::vector<bool>& chosen) {
  const int64_t S = mu.size(0), M = mu.size(1);
  std::vector<double> out;
  for (int64_t i : classes)
    for (int64_t j = 0; j < S; ++j) {
      if (chosen[j]) continue;
      double d2 = 0;
      for (int64_t m = 0; m < M; ++m) {
        const double d = mu.f32()[i * M + m] - mu.f32()[j * M + m];
        d2 += d * d;
      }
      out.push_back(d2);
    }
  return out;
}

// Separation cap: twice the initial mean squared distance between chosen and other centres.
float separation_margin(const Tensor& mu, const std::vector<int64_t>& classes, const std::vector<bool>& chosen) {
  const std::vector<double> d2 = chosen_other_distances(mu, classes, chosen);
  double total = 0;
  for (double d : d2) total += d;
  return static_cast<float>(2.0 * total / std::max<size_t>(d2.size(), 1));
}

}  // namespace

TrainResult embed_hidden(Model& model, const Dataset& train, const Normalization& norm, HiddenKeys& keys,
                         TrainConfig cfg) {
  return embed_hidden(model, train, norm, std::vector<HiddenKeys*>{&keys}, std::move(cfg));
}

TrainResult embed_hidden(Model& model, const Dataset& train, const Normalization& norm,
                         const std::vector<HiddenKeys*>& keys, TrainConfig cfg) {
  SIGNET_CHECK(!keys.empty(), "embed_hidden: no keys given");
  const int64_t S = model.config.num_classes;
  std::vector<MarkedLayer> layers;
  cfg.taps.clear();
  cfg.extra_params.clear();
  for (HiddenKeys* k : keys) {
    for (const MarkedLayer& other : layers)
      SIGNET_CHECK(other.keys->layer != k->layer, "layer '{}' is marked twice; give each --layer once", k->layer);
    float lowest = 0;
    MarkedLayer L{k, training_class_means(model, train, norm, k->layer, S, &lowest), std::vector<bool>(S, false)};
    L.nonnegative = lowest >= 0.0f;
    SIGNET_CHECK(L.mu.size(1) == k->A.size(0), "layer '{}' has {} features, the keys {}", k->layer, L.mu.size(1),
                 k->A.size(0));
    for (int64_t c : k->classes) L.chosen[c] = true;
    k->margin = separation_margin(L.mu, k->classes, L.chosen);
    L.mu.set_requires_grad(true);
    cfg.taps.push_back(k->layer);
    cfg.extra_params.emplace_back("wm.mu." + k->layer, L.mu);
    cfg.rank_averaged_state.push_back(L.mu);  // each rank tracks the other centres on its shard
    layers.push_back(std::move(L));
  }
  cfg.extra_loss = [&layers](const Batch& b, const Tensor&, const Taps& taps) {
    Tensor total;
    for (MarkedLayer& L : layers) {
      const HiddenKeys& k = *L.keys;
      const Tensor f = flatten(taps.require(k.layer), 1);
      WM_track_other_centres(L.mu, f, b.y, L.chosen, L.nonnegative);
      Tensor r = WM_activity_regularizer(f, b.y, L.mu, k.classes, k.A, k.b, k.lambda1, k.lambda2, k.margin);
      // On one rank of several: the attraction averages over the whole step's chosen samples.
      const Tensor c = WM_shard_correction(f, b.y, L.mu, k.classes, k.lambda1, b.global_y, b.global_size);
      if (c.defined()) r = add(r, c);
      total = total.defined() ? add(total, r) : r;
    }
    return total;
  };
  TrainResult r = train_model(model, train, norm, cfg);
  for (MarkedLayer& L : layers) {
    L.keys->mu = L.mu.detach().clone();
    // Whether the separation cap binds: pairs at or past it get no push apart.
    int64_t capped = 0;
    const std::vector<double> d2 = chosen_other_distances(L.keys->mu, L.keys->classes, L.chosen);
    for (double d : d2) capped += L.keys->margin > 0 && d >= L.keys->margin;
    L.keys->capped_pairs = capped;
    L.keys->centre_pairs = static_cast<int64_t>(d2.size());
    // The marked model's own activations on X_key: what a permuted copy is aligned back to.
    L.keys->ref_activations = get_activations(model, L.keys->key_inputs, L.keys->norm, L.keys->layer);
  }
  return r;
}

// ------------------------------------------------------------------ keys file
NamedTensors hidden_keys_tensors(const HiddenKeys& k) {
  NamedTensors nt;
  nt.tensors = {{"A", k.A},
                {"b", k.b},
                {"classes", Tensor::from_vector_i64(k.classes, {static_cast<int64_t>(k.classes.size())})},
                {"key_indices", k.key_indices},
                {"key_inputs", k.key_inputs},
                {"key_labels", k.key_labels}};
  if (k.mu.defined()) nt.tensors.emplace_back("mu", k.mu);
  if (k.ref_activations.defined()) nt.tensors.emplace_back("ref_activations", k.ref_activations);
  nt.metadata = k.extra;
  nt.metadata["signet.model"] = k.model;
  nt.metadata["signet.layer"] = k.layer;
  nt.metadata["signet.dataset"] = k.dataset;
  nt.metadata["signet.owner"] = k.owner;
  nt.metadata["signet.signature_source"] = k.owner.empty() ? "random bits from the key generator" : "SHA-256 of the owner string";
  nt.metadata["signet.bits"] = std::to_string(k.bits());
  nt.metadata["signet.lambda1"] = fmt::format("{}", k.lambda1);
  nt.metadata["signet.lambda2"] = fmt::format("{}", k.lambda2);
  nt.metadata["signet.separation_margin"] = fmt::format("{}", k.margin);
  return nt;
}

std::string save_hidden_keys(const std::string& path, const HiddenKeys& k) {
  return write_keys_file(path, hidden_keys_tensors(k), "deepsigns-hidden", k.norm);
}

HiddenKeys load_hidden_keys(const std::string& path, std::string* sha256) {
  const KeysFile kf = read_keys_file(path);
  if (sha256) *sha256 = kf.sha256;
  return hidden_keys_from_file(kf);
}

HiddenKeys hidden_keys_from_file(const KeysFile& kf) {
  const std::string& path = kf.path;
  const NamedTensors& nt = kf.nt;
  auto meta = [&kf](const std::string& key) -> const std::string& { return kf.meta(key); };
  SIGNET_CHECK(kf.scheme == "deepsigns-hidden", "{}: holds keys of scheme '{}', not deepsigns-hidden{}", path, kf.scheme,
               kf.scheme == "deepsigns-output" ? " (use `signet verify` for output-layer keys)" : "");
  HiddenKeys k;
  k.model = meta("signet.model");
  k.layer = meta("signet.layer");
  k.dataset = meta("signet.dataset");
  k.owner = meta("signet.owner");
  k.A = nt.at("A");
  k.b = nt.at("b");
  k.classes = nt.at("classes").to_vector_i64();
  k.key_indices = nt.at("key_indices");
  k.key_inputs = nt.at("key_inputs");
  k.key_labels = nt.at("key_labels");
  if (nt.find("mu")) k.mu = nt.at("mu");
  if (nt.find("ref_activations")) k.ref_activations = nt.at("ref_activations");
  k.norm = kf.norm();
  k.extra = nt.metadata;
  try {
    k.lambda1 = std::stof(meta("signet.lambda1"));
    k.lambda2 = std::stof(meta("signet.lambda2"));
  } catch (const std::logic_error&) {
    throw Error(fmt::format("{}: bad number in the keys metadata", path));
  }
  SIGNET_CHECK(k.A.dim() == 2 && k.b.dim() == 2 && k.b.size(1) == k.A.size(1) &&
                   k.b.size(0) == static_cast<int64_t>(k.classes.size()),
               "{}: inconsistent key shapes (A {}, b {}, {} classes)", path, shape_str(k.A.shape()),
               shape_str(k.b.shape()), k.classes.size());
  SIGNET_CHECK(k.key_inputs.dim() >= 2 && k.key_labels.numel() == k.key_inputs.size(0),
               "{}: {} trigger inputs but {} labels", path, k.key_inputs.size(0), k.key_labels.numel());
  SIGNET_CHECK(!k.ref_activations.defined() ||
                   (k.ref_activations.dtype() == DType::F32 && k.ref_activations.dim() == 2 &&
                    k.ref_activations.size(0) == k.key_inputs.size(0) && k.ref_activations.size(1) == k.A.size(0)),
               "{}: ref_activations is {}, expected float32 [{} trigger inputs, {} features]", path,
               k.ref_activations.defined() ? k.ref_activations.str() : "", k.key_inputs.size(0), k.A.size(0));
  return k;
}

}  // namespace signet
