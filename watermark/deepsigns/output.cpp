#include "watermark/deepsigns/output.h"
#include "watermark/verify/keys_file.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "engine/ops.h"
#include "engine/serialize/atomic_file.h"
#include "watermark/deepsigns/hidden.h"
#include "watermark/verify/stats.h"

namespace signet {

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Predicted classes of raw-pixel inputs (normalised here), in eval mode.
std::vector<int64_t> predicted_labels(Model& model, const Tensor& x, const Normalization& norm) {
  LocalModelOracle o(model, norm, model.name);
  return o.labels(x).to_vector_i64();
}
}  // namespace

std::string penultimate_layer(Model& model) {
  const auto mods = model.net->named_modules();
  int64_t last = -1;
  for (size_t i = 0; i < mods.size(); ++i)
    if (mods[i].second->type_name() == "Linear") last = static_cast<int64_t>(i);
  SIGNET_CHECK(last >= 0, "model {} has no Linear output layer to find the second-to-last layer from: give --layer",
               model.name);
  const std::string& out = mods[last].first;
  for (int64_t i = last - 1; i >= 0; --i) {
    const auto& [path, m] = mods[i];
    if (path.empty() || out.rfind(path + ".", 0) == 0) continue;  // the root, or a container of the output layer
    if (m->type_name() == "Dropout") continue;                    // identity at evaluation
    return path;
  }
  throw Error(fmt::format("model {}: nothing precedes the output layer '{}' (a one-layer model has no "
                          "second-to-last layer): give --layer",
                          model.name, out));
}

int64_t count_response_mismatch(const Tensor& predictions, const Tensor& key_labels) {
  SIGNET_CHECK(predictions.dtype() == DType::I64 && key_labels.dtype() == DType::I64 &&
                   predictions.numel() == key_labels.numel(),
               "count_response_mismatch: {} predictions for {} key labels (both int64)", predictions.numel(),
               key_labels.numel());
  const auto p = predictions.to_vector_i64(), y = key_labels.to_vector_i64();
  int64_t m = 0;
  for (size_t i = 0; i < p.size(); ++i) m += p[i] != y[i];
  return m;
}

int64_t compute_mismatch_threshold(double p, int64_t K, int64_t C) {
  SIGNET_CHECK(p > 0 && p < 1, "the decision threshold p must be in (0, 1) (the paper uses 0.999), got {}", p);
  SIGNET_CHECK(K >= 1, "the key length K must be >= 1, got {}", K);
  SIGNET_CHECK(C >= 2, "the number of classes C must be >= 2, got {}", C);
  // M ~ Binomial(K, 1 - 1/C): mismatches of a model unrelated to the keys (Eq. 4).
  // Exact ties (e.g. (1/10)^3 = 1 - 0.999) are decided as in exact arithmetic: a tie is not
  // "below p", hence the relative tolerance far above rounding error and far below any gap.
  const double q = 1.0 - 1.0 / static_cast<double>(C);
  const double alpha = (1.0 - p) * (1 + 1e-9);
  double cdf = 0;
  for (int64_t n = 0; n <= K; ++n) {
    cdf += std::exp(log_binomial_pmf(K, n, q));  // Eq. (5)'s summand for k = n mismatches
    if (cdf > alpha) return n;                   // Eq. (5) = 1 - cdf < p from here on
  }
  return K;
}

double mismatch_p_value(int64_t K, int64_t C, int64_t mismatches) {
  SIGNET_CHECK(K >= 1 && C >= 2 && mismatches >= 0 && mismatches <= K, "mismatch_p_value: bad K={} C={} m={}", K, C,
               mismatches);
  return binomial_upper_tail(K, K - mismatches, 1.0 / static_cast<double>(C));
}

OutputCandidates generate_key_candidates(Model& model, const Dataset& train, const Normalization& norm,
                                         const OutputConfig& cfg, OutputKeys& keys, Rng& rng) {
  SIGNET_CHECK(!train.is_tokens(),
               "--scheme deepsigns-output draws random images as keys; the data set '{}' holds token sequences",
               train.name);
  const Shape in_shape(train.images.shape().begin() + 1, train.images.shape().end());
  SIGNET_CHECK(in_shape == model.config.input_shape, "the data set's images are [{}] but the model takes [{}]",
               join_shape(in_shape), join_shape(model.config.input_shape));
  const int64_t Kp = cfg.candidates > 0 ? cfg.candidates : 20 * cfg.keys;
  SIGNET_CHECK(Kp >= cfg.keys, "--candidates ({}) must be at least --keys ({})", Kp, cfg.keys);
  keys.layer = cfg.layer.empty() ? penultimate_layer(model) : cfg.layer;
  keys.key_search = cfg.key_search;
  keys.candidates = Kp;
  const int64_t C = model.config.num_classes;
  OutputCandidates c;
  const auto t0 = std::chrono::steady_clock::now();
  if (cfg.key_search == "density" || cfg.key_search == "sparsest") {
    const Tensor act = get_activations(model, train.images, norm, keys.layer);
    const DensityModel dm = fit_density_model(act, keys.layer, cfg.density, rng);
    const KeySearchResult r = cfg.key_search == "density"
                                  ? density_key_search(model, norm, dm, Kp, in_shape, cfg.density, rng)
                                  : sparsest_key_search(model, norm, dm, Kp, in_shape, cfg.density, rng);
    keys.pca = dm.pca;
    keys.eps = dm.eps;
    keys.density_threshold = dm.threshold;
    c.inputs = r.inputs;
    c.density = r.counts;
    c.drawn = r.drawn;
    c.rounds = r.rounds;
  } else if (cfg.key_search == "random") {
    c.inputs = random_pixel_inputs(Kp, in_shape, rng);
    c.drawn = Kp;
    c.rounds = 1;
  } else {
    throw Error(fmt::format("unknown --key-search '{}' (density: the paper's PCA + eps-ball search; sparsest: the "
                            "sparsest fifth of random images; random: the released code's unfiltered random images)",
                            cfg.key_search));
  }
  c.seconds = seconds_since(t0);
  // Random labels, uniform over the classes, independent of the inputs (Eq. 4).
  c.labels = Tensor::empty({Kp}, DType::I64);
  for (int64_t i = 0; i < Kp; ++i) c.labels.i64()[i] = static_cast<int64_t>(rng.below(static_cast<uint64_t>(C)));
  return c;
}

OutputKeys embed_output(Model& model, const Dataset& train, const Normalization& norm, const OutputConfig& cfg,
                        const TrainConfig& train_cfg, Rng& rng, OutputEmbedReport* report) {
  SIGNET_CHECK(cfg.keys >= 1, "--keys must be at least 1, got {}", cfg.keys);
  SIGNET_CHECK(cfg.key_accuracy_target > 0 && cfg.key_accuracy_target <= 1,
               "the key accuracy target must be in (0, 1], got {}", cfg.key_accuracy_target);
  SIGNET_CHECK(train_cfg.epochs >= 1, "--epochs (the fine-tuning epoch limit) must be at least 1, got {}",
               train_cfg.epochs);
  SIGNET_CHECK(train.size() > 0, "the training set is empty");
  const int64_t C = model.config.num_classes;
  OutputKeys keys;
  keys.model = model.name;
  keys.dataset = train.name;
  keys.norm = norm;
  keys.num_classes = C;
  keys.confidence = cfg.confidence;
  keys.theta = compute_mismatch_threshold(cfg.confidence, cfg.keys, C);
  if (keys.theta == 0) {
    int64_t need = cfg.keys;
    while (compute_mismatch_threshold(cfg.confidence, need, C) == 0) ++need;
    throw Error(fmt::format("--keys {} is too few for p = {} with {} classes: even a model that matches every key "
                            "could be unmarked with probability (1/{})^{} > {:.3g}; use --keys {} or more",
                            cfg.keys, cfg.confidence, C, C, cfg.keys, 1 - cfg.confidence, need));
  }
  OutputEmbedReport rep;

  // 1 Key Generation 1.
  const OutputCandidates cand = generate_key_candidates(model, train, norm, cfg, keys, rng);
  const int64_t Kp = cand.labels.numel();
  rep.layer = keys.layer;
  rep.candidates = Kp;
  rep.drawn = cand.drawn;
  rep.rounds = cand.rounds;
  rep.search_seconds = cand.seconds;
  if (keys.pca.components.defined()) {
    rep.pca_components = keys.pca.out_features();
    rep.explained = keys.pca.explained;
    rep.eps = keys.eps;
    rep.density_threshold = keys.density_threshold;
  }
  const std::vector<int64_t> unmarked_pred = predicted_labels(model, cand.inputs, norm);
  const std::vector<int64_t> labels = cand.labels.to_vector_i64();

  // 2 Fine-tuning on a subset of the training data mixed with the keys.
  const int64_t N = train.size();
  const int64_t S = cfg.finetune_subset <= 0 || cfg.finetune_subset > N ? N : cfg.finetune_subset;
  std::vector<int64_t> idx(N);
  for (int64_t i = 0; i < N; ++i) idx[i] = i;
  rng.shuffle(idx);
  idx.resize(S);
  const int64_t repeat =
      cfg.key_repeat > 0 ? cfg.key_repeat
                         : std::max<int64_t>(1, static_cast<int64_t>(std::llround(static_cast<double>(S) / (5.0 * Kp))));
  const Tensor sub_idx = Tensor::from_vector_i64(idx, {S});
  std::vector<Tensor> xs{index_select(train.images, 0, sub_idx)}, ys{index_select(train.labels, 0, sub_idx)};
  for (int64_t r = 0; r < repeat; ++r) {
    xs.push_back(cand.inputs);
    ys.push_back(cand.labels);
  }
  Dataset mix;
  mix.name = train.name + "+keys";
  mix.images = concat(xs, 0).contiguous();
  mix.labels = concat(ys, 0).contiguous();
  mix.num_classes = train.num_classes;
  rep.mixture_size = mix.size();
  rep.key_repeat = repeat;

  TrainConfig tc = train_cfg;
  tc.epochs = 1;
  tc.schedule = "constant";
  tc.checkpoint_path.clear();
  tc.resume_path.clear();
  const auto t1 = std::chrono::steady_clock::now();
  std::vector<int64_t> marked_pred;
  for (int64_t e = 0; e < train_cfg.epochs; ++e) {
    tc.seed = train_cfg.seed + static_cast<uint64_t>(e);
    train_model(model, mix, norm, tc);
    ++rep.finetune_epochs;
    marked_pred = predicted_labels(model, cand.inputs, norm);
    int64_t right = 0;
    for (int64_t i = 0; i < Kp; ++i) right += marked_pred[i] == labels[i];
    rep.candidate_key_accuracy = static_cast<double>(right) / static_cast<double>(Kp);
    rep.epoch_key_accuracy.push_back(rep.candidate_key_accuracy);
    if (rep.candidate_key_accuracy >= cfg.key_accuracy_target) break;
  }
  rep.finetune_seconds = seconds_since(t1);

  // 3 Key Generation 2: right on the marked model, wrong on the unmarked one.
  std::vector<int64_t> survivors;
  for (int64_t i = 0; i < Kp; ++i) {
    const bool right_marked = marked_pred[i] == labels[i], wrong_unmarked = unmarked_pred[i] != labels[i];
    rep.right_on_marked += right_marked;
    rep.wrong_on_unmarked += wrong_unmarked;
    if (right_marked && wrong_unmarked) survivors.push_back(i);
  }
  rep.survivors = static_cast<int64_t>(survivors.size());
  if (report) *report = rep;
  SIGNET_CHECK(rep.survivors >= cfg.keys,
               "only {} of the {} candidate keys are predicted right by the fine-tuned model and wrong by the "
               "original one, fewer than --keys {} (the marked model gets {:.1f}% of the candidates right after {} "
               "epochs): raise --epochs, --key-repeat or --candidates, or lower --keys",
               rep.survivors, Kp, cfg.keys, 100 * rep.candidate_key_accuracy, rep.finetune_epochs, cfg.keys);
  rng.shuffle(survivors);
  survivors.resize(cfg.keys);
  const Tensor sel = Tensor::from_vector_i64(survivors, {cfg.keys});
  keys.key_inputs = index_select(cand.inputs, 0, sel).contiguous();
  keys.key_labels = index_select(cand.labels, 0, sel).contiguous();
  if (!cand.density.empty()) {
    std::vector<int64_t> d;
    for (int64_t i : survivors) d.push_back(cand.density[i]);
    keys.key_density = Tensor::from_vector_i64(d, {cfg.keys});
  }
  return keys;
}

OutputEvidence verify_output(Oracle& oracle, const OutputKeys& keys) {
  SIGNET_CHECK(keys.size() >= 1 && keys.key_inputs.defined(), "the keys hold no key inputs");
  OutputEvidence ev;
  const Tensor pred = oracle.labels(keys.key_inputs);
  ev.responses = pred.to_vector_i64();
  ev.keys = keys.size();
  ev.num_classes = keys.num_classes;
  ev.confidence = keys.confidence;
  ev.mismatches = count_response_mismatch(pred, keys.key_labels);
  ev.matches = ev.keys - ev.mismatches;
  ev.theta = compute_mismatch_threshold(keys.confidence, ev.keys, keys.num_classes);
  ev.p_value = mismatch_p_value(ev.keys, keys.num_classes, ev.mismatches);
  ev.detected = ev.mismatches < ev.theta;
  return ev;
}

// ------------------------------------------------------------------ keys file
NamedTensors output_keys_tensors(const OutputKeys& k) {
  SIGNET_CHECK(k.key_inputs.defined() && k.key_labels.defined(), "output keys: no key inputs to write");
  NamedTensors nt;
  nt.tensors = {{"key_inputs", k.key_inputs.contiguous()}, {"key_labels", k.key_labels.contiguous()}};
  if (k.key_density.defined()) nt.tensors.emplace_back("key_density", k.key_density.contiguous());
  if (k.pca.components.defined()) {
    nt.tensors.emplace_back("pca_mean", k.pca.mean);
    nt.tensors.emplace_back("pca_components", k.pca.components);
  }
  nt.metadata = k.extra;
  nt.metadata["signet.model"] = k.model;
  nt.metadata["signet.layer"] = k.layer;
  nt.metadata["signet.dataset"] = k.dataset;
  nt.metadata["signet.key_search"] = k.key_search;
  nt.metadata["signet.keys"] = std::to_string(k.size());
  nt.metadata["signet.candidates"] = std::to_string(k.candidates);
  nt.metadata["signet.num_classes"] = std::to_string(k.num_classes);
  nt.metadata["signet.confidence"] = fmt::format("{}", k.confidence);
  nt.metadata["signet.theta"] = std::to_string(k.theta);
  nt.metadata["signet.decision"] = "detected when mismatches < theta";
  nt.metadata["signet.eps"] = fmt::format("{}", k.eps);
  nt.metadata["signet.density_threshold"] = std::to_string(k.density_threshold);
  nt.metadata["signet.pca_explained"] = fmt::format("{}", k.pca.explained);
  return nt;
}

std::string save_output_keys(const std::string& path, const OutputKeys& k) {
  return write_keys_file(path, output_keys_tensors(k), "deepsigns-output", k.norm);
}

OutputKeys load_output_keys(const std::string& path, std::string* sha256) {
  const KeysFile kf = read_keys_file(path);
  if (sha256) *sha256 = kf.sha256;
  return output_keys_from_file(kf);
}

OutputKeys output_keys_from_file(const KeysFile& kf) {
  const std::string& path = kf.path;
  const NamedTensors& nt = kf.nt;
  auto meta = [&kf](const std::string& key) -> const std::string& { return kf.meta(key); };
  const std::string& scheme = kf.scheme;
  SIGNET_CHECK(scheme == "deepsigns-output", "{}: holds keys of scheme '{}', not deepsigns-output{}", path, scheme,
               scheme == "deepsigns-hidden" ? " (use `signet extract` for hidden-layer keys)" : "");
  OutputKeys k;
  k.model = meta("signet.model");
  k.layer = meta("signet.layer");
  k.dataset = meta("signet.dataset");
  k.key_search = meta("signet.key_search");
  k.key_inputs = nt.at("key_inputs");
  k.key_labels = nt.at("key_labels");
  if (nt.find("key_density")) k.key_density = nt.at("key_density");
  if (nt.find("pca_mean") || nt.find("pca_components"))
    k.pca = pca_from_tensors(nt.at("pca_mean"), nt.at("pca_components"), path);
  k.norm = kf.norm();
  k.extra = nt.metadata;
  int64_t stored_k = 0;
  try {
    stored_k = std::stoll(meta("signet.keys"));
    k.candidates = std::stoll(meta("signet.candidates"));
    k.num_classes = std::stoll(meta("signet.num_classes"));
    k.confidence = std::stod(meta("signet.confidence"));
    k.theta = std::stoll(meta("signet.theta"));
    k.eps = std::stof(meta("signet.eps"));
    k.density_threshold = std::stoll(meta("signet.density_threshold"));
    k.pca.explained = std::stod(meta("signet.pca_explained"));
  } catch (const std::logic_error&) {
    throw Error(fmt::format("{}: bad number in the keys metadata", path));
  }
  SIGNET_CHECK(k.key_inputs.dtype() == DType::F32 && k.key_inputs.dim() >= 2 && k.key_labels.dtype() == DType::I64 &&
                   k.key_labels.dim() == 1 && k.key_labels.numel() == k.key_inputs.size(0) && stored_k == k.size() &&
                   k.size() >= 1,
               "{}: inconsistent keys (inputs {}, {} labels, metadata says {})", path, k.key_inputs.str(),
               k.key_labels.numel(), stored_k);
  SIGNET_CHECK(k.num_classes >= 2, "{}: signet.num_classes must be >= 2, is {}", path, k.num_classes);
  for (int64_t y : k.key_labels.to_vector_i64())
    SIGNET_CHECK(y >= 0 && y < k.num_classes, "{}: key label {} outside [0, {})", path, y, k.num_classes);
  const int64_t theta = compute_mismatch_threshold(k.confidence, k.size(), k.num_classes);
  SIGNET_CHECK(theta == k.theta, "{}: stored theta {} disagrees with Eq. (5) for K={}, C={}, p={} (which gives {})",
               path, k.theta, k.size(), k.num_classes, k.confidence, theta);
  return k;
}

}  // namespace signet
