// deepsigns-hidden behind the Scheme interface (watermark/scheme.h): the parts are in hidden.h.
#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <limits>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "watermark/deepsigns/align.h"
#include "watermark/deepsigns/hidden.h"
#include "watermark/deepsigns/output.h"
#include "watermark/deepsigns/schemes.h"
#include "watermark/verify/stats.h"

namespace signet {
namespace {

class HiddenSchemeKeys final : public SchemeKeys {
 public:
  explicit HiddenSchemeKeys(HiddenKeys k) : k_(std::move(k)) {}
  std::string scheme() const override { return kDeepSignsHidden; }
  int64_t size() const override { return k_.bits(); }
  std::string model() const override { return k_.model; }
  std::string layer() const override { return k_.layer; }
  Normalization norm() const override { return k_.norm; }
  ModelConfig suspect_config() const override {
    ModelConfig c;
    c.input_shape = Shape(k_.key_inputs.shape().begin() + 1, k_.key_inputs.shape().end());
    if (k_.mu.defined()) c.num_classes = k_.mu.size(0);
    return c;
  }
  nlohmann::json describe() const override {
    return {{"layer", k_.layer}, {"bits", k_.b.numel()}, {"classes", k_.classes},
            {"trigger_inputs", k_.key_inputs.size(0)}};
  }
  std::string summary() const override {
    return fmt::format("layer {}, {} bits", k_.layer, k_.b.numel());
  }
  NamedTensors to_file() const override { return hidden_keys_tensors(k_); }
  std::shared_ptr<SchemeKeys> clone() const override { return std::make_shared<HiddenSchemeKeys>(*this); }
  const HiddenKeys& keys() const { return k_; }
  HiddenKeys& keys() { return k_; }

 private:
  HiddenKeys k_;
};

const HiddenKeys& hidden_of(const SchemeKeys& k) { return keys_as<HiddenSchemeKeys>(k, kDeepSignsHidden); }

// The loss weights (lambda1, lambda2) that embed N = 32 bits from scratch with the `signet train`
// recipe, by model name prefix, where the paper's 0.01 leaves the mark unread: the CNN needs both
// ten times stronger, a WRN only the signature term (the centre term costs it accuracy), the
// LSTM a little more of both, resnet50 a much weaker centre term (its 2,048-wide layer) and a
// stronger signature term. The measurements behind each value: docs/watermarks.md.
struct LossWeights {
  const char* prefix;
  double lambda1, lambda2;
};
constexpr LossWeights kLossWeights[] = {
    {"cifar10-cnn", 0.1, 0.1}, {"wrn-", 0.01, 0.1}, {"imdb-lstm", 0.03, 0.03}, {"resnet50", 0.001, 0.3}};

LossWeights default_loss_weights(const std::string& model) {
  for (const LossWeights& w : kLossWeights)
    if (model.rfind(w.prefix, 0) == 0) return w;
  return {"", 0.01, 0.01};
}
std::string loss_weight_defaults(bool first) {
  std::string s;
  for (const LossWeights& w : kLossWeights) {
    const std::string prefix = w.prefix;  // "wrn-" matches every wrn-D-K: shown as "wrn-*"
    s += fmt::format("{}{} {}, ", prefix, prefix.back() == '-' ? "*" : "", first ? w.lambda1 : w.lambda2);
  }
  return s + "others 0.01";
}

Evidence to_evidence(const HiddenEvidence& h, double alpha) {
  Evidence e;
  e.metric = "ber";
  e.value = h.ber;
  e.threshold = ber_threshold(h.total, alpha);
  e.matches = h.matches;
  e.total = h.total;
  e.p_value = h.p_value;
  e.claimed = h.p_value <= alpha;
  e.details = {{"ber", h.ber}, {"bits", h.total}, {"matches", h.matches}};
  e.text = fmt::format("BER {:.4f} ({}/{} bits)", h.ber, h.matches, h.total);
  return e;
}

std::vector<std::string> layers_of(const SchemeParams& p) {
  std::vector<std::string> out;
  const std::string& s = p.text("layer");
  size_t start = 0;
  while (start <= s.size()) {
    const size_t end = s.find(',', start);
    const std::string item = s.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!item.empty()) out.push_back(item);
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

// WM_activity_regularizer on the model's second-to-last layer (s = 1, N = 32), keys drawn once,
// centres mu trainable: what one embedding step adds.
class RegularizerTerm final : public TrainingTerm {
 public:
  RegularizerTerm(Model& model, const Tensor& x, int64_t classes, Rng& rng) : tap_(penultimate_tap(model.name)) {
    Taps taps;
    taps.wanted = {tap_};
    {
      NoGradGuard ng;
      model(x, &taps);
    }
    const int64_t M = features(taps.require(tap_)).size(1), N = 32;
    mu_ = Tensor::empty({classes, M});
    for (int64_t i = 0; i < mu_.numel(); ++i) mu_.f32()[i] = 0.1f * static_cast<float>(rng.normal());
    mu_.set_requires_grad(true);
    A_ = Tensor::empty({M, N});
    for (int64_t i = 0; i < A_.numel(); ++i) A_.f32()[i] = static_cast<float>(rng.normal());
    b_ = Tensor::empty({1, N});
    for (int64_t i = 0; i < N; ++i) b_.f32()[i] = static_cast<float>(rng.below(2));
  }
  std::vector<std::string> taps() const override { return {tap_}; }
  NamedTensorList params() const override { return {{"watermark.mu", mu_}}; }
  Tensor loss(const Taps& taps, const Tensor& y) const override {
    return WM_activity_regularizer(features(taps.require(tap_)), y, mu_, {0}, A_, b_, 0.01f, 0.01f, 1.0f);
  }

 private:
  static Tensor features(const Tensor& act) { return act.dim() == 2 ? act : flatten(act, 1); }
  std::string tap_;
  Tensor mu_, A_, b_;
};

class DeepSignsHidden final : public Scheme {
 public:
  const SchemeInfo& info() const override {
    static const SchemeInfo i = [] {
      SchemeInfo s;
      s.name = kDeepSignsHidden;
      s.summary = "N-bit signature in the mean activation of chosen classes at a hidden layer";
      s.paper = "DeepSigns (Rouhani, Chen, Koushanfar; ASPLOS'19), Section 3.1";
      s.white_box = true;
      s.from_scratch = true;
      s.size_option = "bits";
      s.size_symbol = "N";
      s.short_label = "hidden";
      s.metric = "ber";
      s.null_hypothesis = "an unrelated model's extracted bits match the signature like fair coins: "
                          "matches ~ Binomial(N, 1/2)";
      s.default_alpha = 1e-6;
      s.finetune_epochs = 1;
      return s;
    }();
    return i;
  }

  const std::vector<SchemeOption>& options() const override {
    static const std::vector<SchemeOption> o = {
        text_option("layer", "", "layer (tap) carrying the mark; a comma-separated list marks several (default: the "
                                 "second-to-last layer)"),
        integer_option("bits", 32, 1, 4096, "signature bits per chosen class (N)"),
        integer_option("wm_classes", 1, 1, 1000, "number of Gaussian classes carrying bits (s)"),
        real_option("key_fraction", 0.01, 1e-6, 1, "share of the chosen classes' training images used as trigger inputs"),
        real_option("lambda1", 0.01, 0, 1e6,
                    "weight of loss1 (centre isolation); default per model: " + loss_weight_defaults(true)),
        real_option("lambda2", 0.01, 0, 1e6,
                    "weight of loss2 (signature); default per model: " + loss_weight_defaults(false)),
        text_option("signature", "", "owner string: the signature is its SHA-256 bits (default: random bits)", {},
                    /*personal=*/true),
    };
    return o;
  }

  void model_defaults(SchemeParams& p, const std::string& model) const override {
    const LossWeights w = default_loss_weights(model);
    if (!p.given("lambda1")) p.set("lambda1", fmt::format("{}", w.lambda1));
    if (!p.given("lambda2")) p.set("lambda2", fmt::format("{}", w.lambda2));
  }

  int64_t key_sets(const SchemeParams& p) const override {
    return std::max<int64_t>(1, static_cast<int64_t>(layers_of(p).size()));
  }

  std::string layer(const SchemeParams& p, const std::string& model) const override {
    const std::vector<std::string> l = layers_of(p);
    return l.empty() ? penultimate_tap(model) : fmt::format("{}", fmt::join(l, ","));
  }

  std::string describe(const SchemeParams& p) const override {
    return fmt::format("DeepSigns hidden layer, {} bits{}", p.integer("bits"),
                       p.text("signature").empty() ? "" : " from an owner string");
  }

  Embedded embed(EmbedJob job) const override {
    SIGNET_CHECK(job.train != nullptr, "{}: no data to embed with", kDeepSignsHidden);
    Embedded e;
    e.model = std::move(job.model);
    e.norm = job.norm.mean.empty() ? normalization_of(*job.train) : job.norm;
    std::vector<std::string> layers = layers_of(job.params);
    if (layers.empty()) layers.push_back(penultimate_layer(e.model));
    if (job.from_trained && job.test) e.accuracy_before = evaluate_model(e.model, *job.test, e.norm).accuracy;
    HiddenConfig wm;
    wm.bits = job.params.integer("bits");
    wm.classes = job.params.integer("wm_classes");
    wm.key_fraction = job.params.real("key_fraction");
    wm.lambda1 = static_cast<float>(job.params.real("lambda1"));
    wm.lambda2 = static_cast<float>(job.params.real("lambda2"));
    wm.owner = job.params.text("signature");
    std::vector<HiddenKeys> keys;
    const auto t0 = std::chrono::steady_clock::now();
    for (const std::string& layer : layers) {
      HiddenConfig c = wm;
      c.layer = layer;
      // Each layer's keys from its own generator: under a key seed, domains keep them apart.
      const KeyRandomness kr = job.keys.under(kDeepSignsHidden).under(e.model.name).under(layer);
      Rng rng = kr.make();
      keys.push_back(key_generation(e.model, *job.train, e.norm, c, rng));
      kr.record(keys.back().extra);
      if (job.log)
        job.log(fmt::format("embedding {} bits in layer {} of {} (classes {}, {} trigger inputs){}",
                            keys.back().b.numel(), layer, e.model.name, fmt::join(keys.back().classes, ","),
                            keys.back().key_inputs.size(0),
                            job.from_trained ? ", fine-tuning a trained model" : ", training from scratch"));
    }
    std::vector<HiddenKeys*> ptrs;
    for (HiddenKeys& k : keys) ptrs.push_back(&k);
    const TrainResult tr = embed_hidden(e.model, *job.train, e.norm, ptrs, job.train_cfg);
    e.embed_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    e.accuracy = job.test ? evaluate_model(e.model, *job.test, e.norm).accuracy : -1;
    nlohmann::json per_layer = nlohmann::json::array();
    for (HiddenKeys& k : keys) {
      k.extra["signet.dataset"] = job.train->name;
      const HiddenEvidence ev = extract_hidden(e.model, k);
      per_layer.push_back({{"layer", k.layer}, {"bits", k.b.numel()}, {"classes", k.classes}, {"ber", ev.ber},
                           {"matches", ev.matches}, {"p_value", ev.p_value},
                           {"separation_margin", k.margin}, {"separation_capped_pairs", k.capped_pairs},
                           {"separation_pairs", k.centre_pairs}});
      e.lines.push_back(fmt::format("layer {}: BER {:.4f} ({}/{} bits) on the marked model", k.layer, ev.ber,
                                    ev.matches, ev.total));
      e.keys.push_back(std::make_shared<HiddenSchemeKeys>(k));
      e.keys.back()->provenance = k.extra;
    }
    e.report = {{"train_seconds", tr.train_seconds}, {"epochs", tr.epochs_run}};
    if (per_layer.size() == 1) {
      e.report.update(per_layer[0]);
    } else {
      e.report["layers"] = per_layer;
    }
    return e;
  }

  std::shared_ptr<SchemeKeys> read_keys(const KeysFile& file) const override {
    auto k = std::make_shared<HiddenSchemeKeys>(hidden_keys_from_file(file));
    k->provenance = file.nt.metadata;
    return k;
  }

  Evidence extract(Model& suspect, const Normalization&, const SchemeKeys& keys, double alpha) const override {
    return to_evidence(extract_hidden(suspect, hidden_of(keys)), alpha);
  }

  std::shared_ptr<SchemeKeys> for_suspect(const std::shared_ptr<SchemeKeys>& keys, Model& suspect) const override {
    if (suspect.name == keys->model()) return keys;
    // Another architecture: read its second-to-last layer, the layer the owner would have marked.
    auto other = std::static_pointer_cast<HiddenSchemeKeys>(keys->clone());
    other->keys().layer = penultimate_layer(suspect);
    return other;
  }

  std::unique_ptr<TrainingTerm> training_term(Model& model, const Tensor& x, int64_t classes, Rng& rng) const override {
    return std::make_unique<RegularizerTerm>(model, x, classes, rng);
  }

  bool can_align() const override { return true; }

  Evidence extract_aligned(Model& suspect, const SchemeKeys& keys, Model* marked) const override {
    const HiddenKeys& k = hidden_of(keys);
    Tensor reference = k.ref_activations;
    if (marked) {
      reference = get_activations(*marked, k.key_inputs, k.norm, k.layer);
    } else {
      SIGNET_CHECK(reference.defined(),
                   "the keys hold no reference activations (made before they were stored): give the owner's "
                   "marked model to align to");
    }
    const AlignedExtraction al = align_and_extract(suspect, k, reference);
    Evidence e = to_evidence(al.evidence, 0);
    // Alignment pulls unrelated models onto the reference too (align.h): no decision.
    e.claimed = false;
    e.threshold = std::nan("");
    e.details["alignment_residual"] = al.residual;
    e.text = fmt::format("aligned BER {:.4f} ({}/{} bits), residual {:.3g}", al.evidence.ber, al.evidence.matches,
                         al.evidence.total, al.residual);
    return e;
  }
};

}  // namespace

const Scheme& deepsigns_hidden_scheme() {
  static const DeepSignsHidden s;
  return s;
}

}  // namespace signet
