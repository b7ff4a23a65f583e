#include "watermark/triggerset/trigger_set.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "engine/ops.h"
#include "models/recipes.h"
#include "watermark/verify/stats.h"

namespace signet {

double clopper_pearson_upper(int64_t matches, int64_t n, double confidence) {
  SIGNET_CHECK(n >= 1 && matches >= 0 && matches <= n, "clopper_pearson_upper: {} matches of {}", matches, n);
  SIGNET_CHECK(confidence > 0 && confidence < 1, "the null rate's confidence must be in (0, 1), got {}", confidence);
  if (matches == n) return 1.0;
  // P[X <= matches] = 1 - P[X >= matches + 1] falls as q grows: bisect for 1 - confidence.
  const double target = 1 - confidence;
  double lo = static_cast<double>(matches) / static_cast<double>(n), hi = 1.0;
  for (int i = 0; i < 200 && hi - lo > 1e-15; ++i) {
    const double mid = 0.5 * (lo + hi);
    const double cdf = 1 - binomial_upper_tail(n, matches + 1, mid);
    (cdf > target ? lo : hi) = mid;
  }
  return hi;  // the side where the bound holds
}

int64_t matches_needed(int64_t K, double q0, double alpha) {
  for (int64_t m = 0; m <= K; ++m)
    if (binomial_upper_tail(K, m, q0) <= alpha) return m;
  return K + 1;
}

int64_t trigger_matches(Model& model, const Normalization& norm, const Tensor& inputs, const Tensor& labels) {
  LocalModelOracle o(model, norm, model.name);
  const auto p = o.labels(inputs).to_vector_i64(), y = labels.to_vector_i64();
  int64_t m = 0;
  for (size_t i = 0; i < p.size(); ++i) m += p[i] == y[i];
  return m;
}

TriggerEvidence verify_triggers(Oracle& oracle, const TriggerKeys& keys, double alpha) {
  SIGNET_CHECK(keys.size() >= 1 && keys.inputs.defined(), "the keys hold no trigger inputs");
  SIGNET_CHECK(alpha > 0 && alpha < 1, "alpha must be in (0, 1), got {}", alpha);
  const auto p = oracle.labels(keys.inputs).to_vector_i64(), y = keys.labels.to_vector_i64();
  TriggerEvidence ev;
  ev.keys = keys.size();
  for (size_t i = 0; i < p.size(); ++i) ev.matches += p[i] == y[i];
  ev.null_rate = keys.null_rate;
  ev.p_value = binomial_upper_tail(ev.keys, ev.matches, keys.null_rate);
  ev.needed = matches_needed(ev.keys, keys.null_rate, alpha);
  ev.detected = ev.p_value <= alpha;
  return ev;
}

// ------------------------------------------------------------------ keys file
NamedTensors trigger_keys_tensors(const TriggerKeys& k) {
  SIGNET_CHECK(k.inputs.defined() && k.labels.defined(), "trigger keys: no trigger inputs to write");
  NamedTensors nt;
  nt.tensors = {{"trigger_inputs", k.inputs.contiguous()}, {"trigger_labels", k.labels.contiguous()}};
  nt.metadata = k.extra;
  nt.metadata["signet.model"] = k.model;
  nt.metadata["signet.dataset"] = k.dataset;
  nt.metadata["signet.keys"] = std::to_string(k.size());
  nt.metadata["signet.num_classes"] = std::to_string(k.num_classes);
  nt.metadata["signet.null_rate"] = fmt::format("{}", k.null_rate);
  nt.metadata["signet.null_kind"] = k.null_kind;
  nt.metadata["signet.null_source"] = k.null_source;
  nt.metadata["signet.null_matches"] = std::to_string(k.null_matches);
  nt.metadata["signet.null_total"] = std::to_string(k.null_total);
  nt.metadata["signet.null_confidence"] = fmt::format("{}", k.null_confidence);
  nt.metadata["signet.decision"] = "claimed when P[Binomial(K, null_rate) >= matches] <= alpha";
  return nt;
}

TriggerKeys trigger_keys_from_file(const KeysFile& kf, const std::string& scheme) {
  const std::string& path = kf.path;
  SIGNET_CHECK(kf.scheme == scheme, "{}: holds keys of scheme '{}', not {}", path, kf.scheme, scheme);
  TriggerKeys k;
  k.scheme = scheme;
  k.model = kf.meta("signet.model");
  k.dataset = kf.meta("signet.dataset");
  k.null_kind = kf.meta("signet.null_kind");
  k.null_source = kf.meta("signet.null_source");
  k.inputs = kf.nt.at("trigger_inputs");
  k.labels = kf.nt.at("trigger_labels");
  k.norm = kf.norm();
  k.extra = kf.nt.metadata;
  int64_t stored_k = 0;
  try {
    stored_k = std::stoll(kf.meta("signet.keys"));
    k.num_classes = std::stoll(kf.meta("signet.num_classes"));
    k.null_rate = std::stod(kf.meta("signet.null_rate"));
    k.null_matches = std::stoll(kf.meta("signet.null_matches"));
    k.null_total = std::stoll(kf.meta("signet.null_total"));
    k.null_confidence = std::stod(kf.meta("signet.null_confidence"));
  } catch (const std::logic_error&) {
    throw Error(fmt::format("{}: bad number in the keys metadata", path));
  }
  SIGNET_CHECK(k.inputs.dtype() == DType::F32 && k.inputs.dim() >= 2 && k.labels.dtype() == DType::I64 &&
                   k.labels.dim() == 1 && k.labels.numel() == k.inputs.size(0) && stored_k == k.size() && k.size() >= 1,
               "{}: inconsistent keys (inputs {}, {} labels, metadata says {})", path, k.inputs.str(), k.labels.numel(),
               stored_k);
  SIGNET_CHECK(k.num_classes >= 2, "{}: signet.num_classes must be >= 2, is {}", path, k.num_classes);
  for (int64_t y : k.labels.to_vector_i64())
    SIGNET_CHECK(y >= 0 && y < k.num_classes, "{}: trigger label {} outside [0, {})", path, y, k.num_classes);
  // The null rate must be the one its stated provenance gives: a lowered rate would make any
  // model look marked.
  double expect = 0;
  if (k.null_kind == "chance") {
    expect = 1.0 / static_cast<double>(k.num_classes);
  } else {
    SIGNET_CHECK(k.null_kind == "reference", "{}: unknown signet.null_kind '{}' (chance or reference)", path,
                 k.null_kind);
    SIGNET_CHECK(k.null_total == k.size() && k.null_matches >= 0 && k.null_matches <= k.null_total,
                 "{}: the reference measurement ({} of {}) is not over the {} triggers", path, k.null_matches,
                 k.null_total, k.size());
    expect = clopper_pearson_upper(k.null_matches, k.null_total, k.null_confidence);
  }
  SIGNET_CHECK(std::fabs(k.null_rate - expect) <= 1e-9 * std::max(1.0, expect),
               "{}: stored null rate {} disagrees with its provenance ({} null: {})", path, k.null_rate, k.null_kind,
               expect);
  return k;
}

// ------------------------------------------------------------------ embedding by mixing
int64_t trigger_repeat(int64_t key_repeat, int64_t train_size, int64_t keys) {
  if (key_repeat > 0) return key_repeat;
  return std::max<int64_t>(1, std::llround(static_cast<double>(train_size) / (19.0 * static_cast<double>(keys))));
}

Dataset mix_triggers(const Dataset& train, const Tensor& inputs, const Tensor& labels, int64_t repeat) {
  std::vector<Tensor> xs{train.images}, ys{train.labels};
  for (int64_t r = 0; r < repeat; ++r) {
    xs.push_back(inputs);
    ys.push_back(labels);
  }
  Dataset mix;
  mix.name = train.name + "+triggers";
  mix.images = concat(xs, 0).contiguous();
  mix.labels = concat(ys, 0).contiguous();
  mix.num_classes = train.num_classes;
  return mix;
}

namespace {

class TriggerSchemeKeys final : public SchemeKeys {
 public:
  explicit TriggerSchemeKeys(TriggerKeys k) : k_(std::move(k)) {}
  std::string scheme() const override { return k_.scheme; }
  int64_t size() const override { return k_.size(); }
  std::string model() const override { return k_.model; }
  std::string layer() const override { return ""; }
  Normalization norm() const override { return k_.norm; }
  ModelConfig suspect_config() const override {
    ModelConfig c;
    c.input_shape = Shape(k_.inputs.shape().begin() + 1, k_.inputs.shape().end());
    c.num_classes = k_.num_classes;
    return c;
  }
  nlohmann::json describe() const override {
    return {{"keys_k", k_.size()}, {"classes", k_.num_classes}, {"null_rate", k_.null_rate},
            {"null_kind", k_.null_kind}, {"null_source", k_.null_source},
            {"decision", "claimed when P[Binomial(K, null_rate) >= matches] <= alpha"}};
  }
  std::string summary() const override {
    return fmt::format("K = {} triggers, null rate {:.4g} ({}): claimed when P[Binomial(K, null rate) >= matches] <= "
                       "alpha",
                       k_.size(), k_.null_rate, k_.null_kind);
  }
  NamedTensors to_file() const override { return trigger_keys_tensors(k_); }
  std::shared_ptr<SchemeKeys> clone() const override { return std::make_shared<TriggerSchemeKeys>(*this); }
  const TriggerKeys& keys() const { return k_; }

 private:
  TriggerKeys k_;
};

const TriggerKeys& trigger_keys_of(const SchemeKeys& k, const std::string& scheme) {
  return keys_as<TriggerSchemeKeys>(k, scheme);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

struct Reference {
  std::string what;
  std::vector<int64_t> labels;  // its answers to the triggers
  int64_t matches = 0;          // of them, the trigger labels
};

std::vector<int64_t> answers(Model& model, const Normalization& norm, const Tensor& inputs) {
  LocalModelOracle o(model, norm, model.name);
  return o.labels(inputs).to_vector_i64();
}

}  // namespace

SchemeInfo TriggerSetScheme::common_info(const std::string& name, bool from_scratch) {
  SchemeInfo s;
  s.name = name;
  s.white_box = true;  // by querying the model itself
  s.black_box = true;
  s.from_scratch = from_scratch;
  s.size_option = "keys";
  s.size_symbol = "K";
  s.metric = "mismatches";
  s.default_alpha = 1e-6;
  s.finetune_epochs = 3;
  return s;
}

std::vector<SchemeOption> TriggerSetScheme::common_options(Null null, int64_t default_keys) {
  std::vector<SchemeOption> o = {
      integer_option("keys", default_keys, 1, 100000, "trigger set size K"),
      integer_option("key_repeat", 0, 0, 1000000,
                     "copies of each trigger per training epoch (0: the triggers are about 1/20 of the mixture)"),
  };
  if (null == Null::Reference) {
    o.push_back(integer_option("reference_epochs", 0, 0, 1000,
                               "epochs of the reference model trained without the triggers to measure the null rate "
                               "(0: the embedding's epochs from scratch, 5 when fine-tuning)"));
    o.push_back(real_option("null_confidence", 0.999, 0.5, 1 - 1e-12,
                            "level of the Clopper-Pearson upper bound on the reference models' agreement"));
    SchemeOption other = text_option(
        "other_references", "",
        "comma-separated architectures of further unmarked references, each trained without the triggers for "
        "reference_epochs on the same data, so the null rate covers them too (default: mnist-mlp when marking any "
        "other image model; none when marking mnist-mlp; 'none' turns it off)");
    other.omit_at_default = true;
    o.push_back(other);
  }
  return o;
}

std::vector<std::string> other_reference_models(const std::string& list, const std::string& own) {
  std::vector<std::string> out;
  if (list.empty() || list == "none") return out;
  size_t at = 0;
  while (at <= list.size()) {
    const size_t comma = std::min(list.find(',', at), list.size());
    std::string name = list.substr(at, comma - at);
    name.erase(0, name.find_first_not_of(' '));
    name.erase(name.find_last_not_of(' ') + 1);
    at = comma + 1;
    SIGNET_CHECK(!name.empty(), "other_references '{}': an empty name (list architectures separated by commas)", list);
    require_model_name(name);
    SIGNET_CHECK(default_model_config(name).input_shape.size() == 3,
                 "other_references: {} reads token sequences; trigger inputs are images", name);
    SIGNET_CHECK(name != own, "other_references: {} is the marked model's own architecture, whose reference is "
                 "trained anyway", name);
    SIGNET_CHECK(std::find(out.begin(), out.end(), name) == out.end(), "other_references: {} is listed twice", name);
    out.push_back(name);
  }
  return out;
}

void TriggerSetScheme::model_defaults(SchemeParams& p, const std::string& model) const {
  if (null_kind() != Null::Reference || p.given("other_references") || model == "mnist-mlp") return;
  if (default_model_config(model).input_shape.size() == 3) p.set("other_references", "mnist-mlp");
}

Embedded TriggerSetScheme::embed(EmbedJob job) const {
  const SchemeInfo& in = info();
  SIGNET_CHECK(in.from_scratch || job.from_trained,
               "{} marks a trained model by fine-tuning it: start from one (`signet embed --from "
               "trained.safetensors`, made with `signet train`; in a config: from = \"base\")",
               in.name);
  SIGNET_CHECK(job.train != nullptr && job.train->size() > 0, "{}: no data to embed with", in.name);
  SIGNET_CHECK(!job.train->is_tokens(), "{} makes image triggers; the data set '{}' holds token sequences", in.name,
               job.train->name);
  const Shape in_shape(job.train->images.shape().begin() + 1, job.train->images.shape().end());
  SIGNET_CHECK(in_shape == job.model.config.input_shape, "the data set's images are [{}] but the model takes [{}]",
               join_shape(in_shape), join_shape(job.model.config.input_shape));
  SIGNET_CHECK(job.model.config.num_classes == job.train->num_classes, "the model has {} classes, the data set '{}' {}",
               job.model.config.num_classes, job.train->name, job.train->num_classes);
  const std::vector<std::string> others =
      null_kind() == Null::Reference ? other_reference_models(job.params.text("other_references"), job.model.name)
                                     : std::vector<std::string>{};
  Embedded e;
  e.model = std::move(job.model);
  e.norm = job.norm.mean.empty() ? normalization_of(*job.train) : job.norm;
  if (job.from_trained && job.test) e.accuracy_before = evaluate_model(e.model, *job.test, e.norm).accuracy;
  const KeyRandomness kr = job.keys.under(in.name).under(e.model.name);
  Rng rng = kr.make();
  const auto t0 = std::chrono::steady_clock::now();
  TriggerSet ts = generate(job, e.model, e.norm, rng);
  const int64_t K = ts.labels.numel();
  const int64_t C = e.model.config.num_classes;
  SIGNET_CHECK(K >= 1 && ts.inputs.defined() && ts.inputs.size(0) == K, "{}: no trigger inputs made", in.name);

  // References for the null rate, before the model learns the triggers.
  std::vector<Reference> refs;
  if (null_kind() == Null::Reference) {
    if (job.from_trained) refs.push_back({"the unmarked model before fine-tuning", answers(e.model, e.norm, ts.inputs)});
    // An own-architecture reference (unless the unmarked model being fine-tuned is the one), then
    // one of each other architecture; each from a key-derived initialisation and data order.
    std::vector<std::string> archs = others;
    if (!job.from_trained || independent_reference()) archs.insert(archs.begin(), e.model.name);
    for (const std::string& arch : archs) {
      Rng init(rng.next_u64());
      ModelConfig mc;
      mc.input_shape = e.model.config.input_shape;
      mc.num_classes = e.model.config.num_classes;
      if (arch == e.model.name) mc = e.model.config;
      Model ref = build_model(arch, mc, init);
      TrainConfig rc;
      const int64_t re = job.params.integer("reference_epochs");
      rc.epochs = re > 0 ? re : job.from_trained ? kReferenceFinetuneEpochs : job.train_cfg.epochs;
      rc.batch_size = job.train_cfg.batch_size;
      rc.warmup_steps = default_warmup_steps(ref.name);
      rc.seed = rng.next_u64();
      rc.progress = job.train_cfg.progress;
      if (job.log) job.log(fmt::format("training a reference {} without the triggers for {} epochs (null rate)",
                                       ref.name, rc.epochs));
      train_model(ref, *job.train, e.norm, rc);
      refs.push_back({fmt::format("a {} trained {} epochs without the triggers (lr {}, key-derived seed)", ref.name,
                                  rc.epochs, rc.lr),
                      answers(ref, e.norm, ts.inputs)});
    }
    std::vector<std::vector<int64_t>> seen;
    for (const Reference& r : refs) seen.push_back(r.labels);
    choose_labels(job, seen, ts, rng);
    const auto y = ts.labels.to_vector_i64();
    for (Reference& r : refs)
      for (int64_t i = 0; i < K; ++i) r.matches += r.labels[i] == y[i];
  }

  const int64_t repeat = trigger_repeat(job.params.integer("key_repeat"), job.train->size(), K);
  const Dataset mix = mix_triggers(*job.train, ts.inputs, ts.labels, repeat);
  if (job.log)
    job.log(fmt::format("{} on {}: K = {} triggers x{} mixed into {} training images, {} for {} epochs at lr {}",
                        in.name, e.model.name, K, repeat, job.train->size(),
                        job.from_trained ? "fine-tuning (until all are learnt) at most" : "training from scratch",
                        job.train_cfg.epochs,
                        job.train_cfg.lr));
  TrainConfig tc = job.train_cfg;
  tc.checkpoint_path.clear();
  tc.resume_path.clear();
  int64_t epochs_run = 0;
  if (!job.from_trained) {
    epochs_run = train_model(e.model, mix, e.norm, tc).epochs_run;
  } else {
    // Fine-tuning: one epoch at a time at a constant rate, until the model labels every trigger
    // as keyed or the epoch limit is reached (as deepsigns-output does).
    tc.epochs = 1;
    tc.schedule = "constant";
    tc.progress = false;
    for (int64_t ep = 0; ep < job.train_cfg.epochs; ++ep) {
      tc.seed = job.train_cfg.seed + static_cast<uint64_t>(ep);
      train_model(e.model, mix, e.norm, tc);
      ++epochs_run;
      if (trigger_matches(e.model, e.norm, ts.inputs, ts.labels) == K) break;
    }
  }
  e.embed_seconds = seconds_since(t0);
  e.accuracy = job.test ? evaluate_model(e.model, *job.test, e.norm).accuracy : -1;

  TriggerKeys keys;
  keys.scheme = in.name;
  keys.model = e.model.name;
  keys.dataset = job.train->name;
  keys.inputs = ts.inputs.contiguous();
  keys.labels = ts.labels.contiguous();
  keys.num_classes = C;
  keys.norm = e.norm;
  if (null_kind() == Null::Chance) {
    keys.null_kind = "chance";
    keys.null_rate = 1.0 / static_cast<double>(C);
    keys.null_source = fmt::format("labels uniform over the {} classes, independent of the inputs: 1/{}", C, C);
  } else {
    keys.null_kind = "reference";
    keys.null_confidence = job.params.real("null_confidence");
    keys.null_total = K;
    std::vector<std::string> parts;
    for (const Reference& r : refs) {
      const double ub = clopper_pearson_upper(r.matches, K, keys.null_confidence);
      parts.push_back(fmt::format("{}: {}/{} agree (upper bound {:.4g})", r.what, r.matches, K, ub));
      if (ub > keys.null_rate) {
        keys.null_rate = ub;
        keys.null_matches = r.matches;
      }
    }
    keys.null_source = fmt::format("largest {}% Clopper-Pearson upper bound over: {}", 100 * keys.null_confidence,
                                   fmt::join(parts, "; "));
  }
  keys.extra = ts.meta;
  keys.extra["signet.key_repeat"] = std::to_string(repeat);
  kr.record(keys.extra);

  LocalModelOracle self(e.model, e.norm, "marked model");
  const TriggerEvidence ev = verify_triggers(self, keys, in.default_alpha);
  e.report = {{"keys_k", K},           {"key_repeat", repeat},     {"mixture_size", mix.size()},
              {"train_epochs", epochs_run}, {"null_rate", keys.null_rate}, {"null_kind", keys.null_kind},
              {"null_source", keys.null_source}, {"matches", ev.matches}, {"matches_needed", ev.needed},
              {"p_value", ev.p_value}, {"detected", ev.detected}};
  for (const Reference& r : refs) e.report["reference_matches"].push_back({{"reference", r.what}, {"matches", r.matches}});
  e.lines = ts.lines;
  e.lines.push_back(fmt::format("{} triggers x{} mixed into {} training images, {} epochs", K, repeat,
                                job.train->size(), epochs_run));
  e.lines.push_back(fmt::format("null rate {:.4g} ({})", keys.null_rate, keys.null_source));
  e.lines.push_back(fmt::format("marked model: {}/{} triggers labelled as keyed (claimed from {}), p-value {:.3g}, {}",
                                ev.matches, K, ev.needed, ev.p_value, ev.detected ? "detected" : "NOT detected"));
  if (ev.needed > K)
    e.lines.push_back(fmt::format("warning: with null rate {:.4g}, even {}/{} matches cannot reach alpha {:g}: use more "
                                  "--keys or another target class",
                                  keys.null_rate, K, K, in.default_alpha));
  e.keys.push_back(std::make_shared<TriggerSchemeKeys>(keys));
  e.keys.back()->provenance = keys.extra;
  return e;
}

std::shared_ptr<SchemeKeys> TriggerSetScheme::read_keys(const KeysFile& file) const {
  auto k = std::make_shared<TriggerSchemeKeys>(trigger_keys_from_file(file, info().name));
  k->provenance = file.nt.metadata;
  return k;
}

Evidence TriggerSetScheme::query(Oracle& oracle, const SchemeKeys& keys, double alpha) const {
  const TriggerKeys& k = trigger_keys_of(keys, info().name);
  const TriggerEvidence o = verify_triggers(oracle, k, alpha);
  Evidence e;
  e.metric = "mismatches";
  e.value = static_cast<double>(o.keys - o.matches);
  e.threshold = static_cast<double>(o.keys - o.needed + 1);  // claimed when mismatches < this
  e.matches = o.matches;
  e.total = o.keys;
  e.p_value = o.p_value;
  e.claimed = o.detected;
  e.details = {{"keys_k", o.keys},          {"matches", o.matches},       {"mismatches", o.keys - o.matches},
               {"matches_needed", o.needed}, {"null_rate", o.null_rate},   {"null_kind", k.null_kind},
               {"p_value", o.p_value},       {"alpha", alpha},             {"detected", o.detected},
               {"queries", oracle.queries()}};
  e.text = fmt::format("{}/{} triggers match (claimed from {}; null rate {:.4g})", o.matches, o.keys, o.needed,
                       o.null_rate);
  return e;
}

}  // namespace signet
