// gradsigns behind the Scheme interface (watermark/scheme.h): the parts are in gradsigns.h.
#include <fmt/format.h>

#include <chrono>
#include <cmath>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/profiler.h"
#include "watermark/gradsigns/gradsigns.h"
#include "watermark/gradsigns/schemes.h"
#include "watermark/verify/stats.h"

namespace signet {
namespace {

class GradSignsSchemeKeys final : public SchemeKeys {
 public:
  explicit GradSignsSchemeKeys(GradSignsKeys k) : k_(std::move(k)) {}
  std::string scheme() const override { return kGradSigns; }
  int64_t size() const override { return k_.bits(); }
  std::string model() const override { return k_.model; }
  std::string layer() const override { return ""; }
  Normalization norm() const override { return k_.norm; }
  ModelConfig suspect_config() const override {
    ModelConfig c;
    c.input_shape = Shape(k_.key_inputs.shape().begin() + 1, k_.key_inputs.shape().end());
    c.num_classes = k_.num_classes;
    return c;
  }
  nlohmann::json describe() const override {
    return {{"bits", k_.bits()},         {"carriers", k_.carriers.numel()}, {"target_class", k_.target},
            {"samples", k_.key_inputs.size(0)}, {"query_budget", k_.queries}, {"fd_step", k_.step}};
  }
  std::string summary() const override {
    return fmt::format("{} bits on {} input carriers, target class {}, {} key samples", k_.bits(),
                       k_.carriers.numel(), k_.target, k_.key_inputs.size(0));
  }
  NamedTensors to_file() const override { return gradsigns_keys_tensors(k_); }
  std::shared_ptr<SchemeKeys> clone() const override { return std::make_shared<GradSignsSchemeKeys>(*this); }
  const GradSignsKeys& keys() const { return k_; }

 private:
  GradSignsKeys k_;
};

const GradSignsKeys& gradsigns_of(const SchemeKeys& k) { return keys_as<GradSignsSchemeKeys>(k, kGradSigns); }

Evidence to_evidence(const GradSignsEvidence& h, double alpha) {
  Evidence e;
  e.metric = "ber";
  e.value = h.ber;
  e.threshold = ber_threshold(h.total, alpha);
  e.matches = h.matches;
  e.total = h.total;
  e.p_value = h.p_value;
  e.claimed = h.p_value <= alpha;
  e.details = {{"ber", h.ber}, {"bits", h.total}, {"matches", h.matches}, {"p_value", h.p_value},
               {"detected", e.claimed}};
  e.text = fmt::format("BER {:.4f} ({}/{} bits)", h.ber, h.matches, h.total);
  return e;
}

// ||a - b|| / ||b||
double relative_error(const Tensor& a, const Tensor& b) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < b.numel(); ++i) {
    const double d = a.f32()[i] - b.f32()[i];
    num += d * d;
    den += static_cast<double>(b.f32()[i]) * b.f32()[i];
  }
  return den > 0 ? std::sqrt(num / den) : std::nan("");
}

// The embedding term on synthetic keys: 32 bits on 64 carriers, target class 0, the first
// (up to 50) rows of the batch as the key batch; double backward as `signet embed` trains it.
class GradSignsTerm final : public TrainingTerm {
 public:
  GradSignsTerm(Model& model, const Tensor& x, Rng& rng) : model_(&model) {
    SIGNET_CHECK(!model.takes_tokens() && x.dim() == 4, "gradsigns needs image inputs; {} takes tokens", model.name);
    const int64_t D = x.numel() / x.size(0), nc = std::min<int64_t>(64, D), bits = 32;
    std::vector<int64_t> pos(D);
    for (int64_t i = 0; i < D; ++i) pos[i] = i;
    rng.shuffle(pos);
    pos.resize(nc);
    carriers_ = Tensor::from_vector_i64(pos, {nc});
    K_ = Tensor::empty({bits, nc});
    for (int64_t i = 0; i < K_.numel(); ++i) K_.f32()[i] = static_cast<float>(rng.normal());
    b_ = Tensor::empty({bits});
    for (int64_t i = 0; i < bits; ++i) b_.f32()[i] = static_cast<float>(rng.below(2));
    xk_ = x.narrow_view(0, 0, std::min<int64_t>(50, x.size(0))).contiguous();
    inv_ = Tensor::full({nc}, 1.0f);
  }
  std::vector<std::string> taps() const override { return {}; }
  NamedTensorList params() const override { return {}; }
  Tensor loss(const Taps&, const Tensor&) const override {
    profiler::OpScope scope("gradsigns.input_gradient");
    const bool training = model_->net->is_training();
    model_->net->eval();
    const Tensor g = carrier_gradient(*model_, xk_, 0, carriers_, inv_, true);
    model_->net->train(training);
    return gradsigns_regularizer(g, K_, b_, 1.0f);
  }

 private:
  Model* model_;
  Tensor carriers_, K_, b_, xk_, inv_;
};

// Fine-tuning a model with BatchNorm in training mode lets the regularizer grow the weights before
// a BatchNorm layer: the training loss does not see that scale (batch statistics remove it), the
// key batch does (it runs on the lagging running statistics), so the mark is chased while the
// model's inference function drifts from the one trained. Frozen BatchNorm trains the inference
// function itself.
SchemeOption frozen_batchnorm_option() {
  SchemeOption o = text_option("batchnorm", "auto",
                               "fine-tuning: 'frozen' trains with BatchNorm on the trained model's running statistics "
                               "(kept fixed) and dropout off, so the gradient trained is the one a verifier reads; "
                               "'train': BatchNorm in training mode; 'auto': frozen when fine-tuning a model that has "
                               "BatchNorm",
                               {"auto", "frozen", "train"});
  o.omit_at_default = true;
  return o;
}

bool has_batchnorm(const Model& model) {
  for (const auto& [name, t] : model.net->named_buffers())
    if (name.size() >= 12 && name.compare(name.size() - 12, 12, "running_mean") == 0) return true;
  return false;
}

class GradSigns final : public Scheme {
 public:
  const SchemeInfo& info() const override {
    static const SchemeInfo i = [] {
      SchemeInfo s;
      s.name = kGradSigns;
      s.summary = "N-bit signature in the input gradient of the cross-entropy at secret carrier pixels";
      s.paper = "GradSigns (Aramoon, Chen, Qu; MLSys'21)";
      s.white_box = true;
      s.black_box = true;
      s.from_scratch = true;
      s.size_option = "bits";
      s.size_symbol = "N";
      s.short_label = "gradsigns";
      s.metric = "ber";
      s.null_hypothesis = "an unrelated model's extracted bits match the signature like fair coins: "
                          "matches ~ Binomial(N, 1/2)";
      s.default_alpha = 1e-6;
      s.finetune_epochs = 2;
      return s;
    }();
    return i;
  }

  const std::vector<SchemeOption>& options() const override {
    static const std::vector<SchemeOption> o = {
        integer_option("bits", 32, 1, 4096, "signature bits (N)"),
        integer_option("carriers", 64, 1, 1e7, "input positions carrying the mark (|C|)"),
        integer_option("samples", 50, 1, 100000, "key samples of the target class (the held key batch)"),
        real_option("lambda", 1.0, 0, 1e6, "weight of the embedding regularizer (BCE averaged over the bits)"),
        real_option("step", 0.01, 1e-6, 0.5, "finite-difference step of black-box verification (pixels in [0, 1])"),
        integer_option("queries", 0, 0, 1e9,
                       "black-box query budget (0: (carriers + 1) x samples, the released code's 3,250 for 64 "
                       "carriers and 50 samples)"),
        text_option("signature", "", "owner string: the signature is its SHA-256 bits (default: random bits)", {},
                    /*personal=*/true),
        frozen_batchnorm_option(),
    };
    return o;
  }

  std::string describe(const SchemeParams& p) const override {
    return fmt::format("GradSigns, {} bits on {} carriers{}", p.integer("bits"), p.integer("carriers"),
                       p.text("signature").empty() ? "" : " from an owner string");
  }

  Embedded embed(EmbedJob job) const override {
    SIGNET_CHECK(job.train != nullptr, "{}: no data to embed with", kGradSigns);
    Embedded e;
    e.model = std::move(job.model);
    e.norm = job.norm.mean.empty() ? normalization_of(*job.train) : job.norm;
    if (job.from_trained && job.test) e.accuracy_before = evaluate_model(e.model, *job.test, e.norm).accuracy;
    const auto t0 = std::chrono::steady_clock::now();
    GradSignsConfig c;
    c.bits = job.params.integer("bits");
    c.carriers = job.params.integer("carriers");
    c.samples = job.params.integer("samples");
    c.lambda = static_cast<float>(job.params.real("lambda"));
    c.step = job.params.real("step");
    c.queries = job.params.integer("queries");
    c.owner = job.params.text("signature");
    const KeyRandomness kr = job.keys.under(kGradSigns).under(e.model.name);
    Rng rng = kr.make();
    GradSignsKeys k = gradsigns_key_generation(e.model, *job.train, c, rng);
    k.norm = e.norm;
    kr.record(k.extra);
    k.extra["signet.dataset"] = job.train->name;
    if (job.log)
      job.log(fmt::format("embedding {} bits in the input gradient of {} (class {}, {} carriers, {} key samples){}",
                          k.bits(), e.model.name, k.target, k.carriers.numel(), k.key_inputs.size(0),
                          job.from_trained ? ", fine-tuning a trained model" : ", training from scratch"));
    const std::string bn = job.params.text("batchnorm");
    SIGNET_CHECK(bn != "frozen" || job.from_trained,
                 "{}: --batchnorm frozen needs a trained model (--from): a model trained from scratch has no running "
                 "statistics to freeze", kGradSigns);
    TrainConfig tc = job.train_cfg;
    tc.inference_mode_layers = job.from_trained && (bn == "frozen" || (bn == "auto" && has_batchnorm(e.model)));
    const TrainResult tr = embed_gradsigns(e.model, *job.train, e.norm, k, tc);
    e.embed_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    e.accuracy = job.test ? evaluate_model(e.model, *job.test, e.norm).accuracy : -1;
    const GradSignsEvidence ev = gradsigns_evidence(exact_gradient(e.model, e.norm, k), k);
    e.lines.push_back(fmt::format("BER {:.4f} ({}/{} bits) on the marked model (exact input gradient)", ev.ber,
                                  ev.matches, ev.total));
    e.report = {{"train_seconds", tr.train_seconds}, {"epochs", tr.epochs_run}, {"bits", k.bits()},
                {"frozen_batchnorm", tc.inference_mode_layers},
                {"target_class", k.target},         {"ber", ev.ber},          {"matches", ev.matches},
                {"p_value", ev.p_value}};
    e.keys.push_back(std::make_shared<GradSignsSchemeKeys>(k));
    e.keys.back()->provenance = k.extra;
    return e;
  }

  std::shared_ptr<SchemeKeys> read_keys(const KeysFile& file) const override {
    auto k = std::make_shared<GradSignsSchemeKeys>(gradsigns_keys_from_file(file));
    k->provenance = file.nt.metadata;
    return k;
  }

  // White-box: the exact gradient decides; the zeroth-order estimate of the same model (what
  // query() would see through a local oracle) is reported beside it with its error.
  Evidence extract(Model& suspect, const Normalization& suspect_norm, const SchemeKeys& keys,
                   double alpha) const override {
    const GradSignsKeys& k = gradsigns_of(keys);
    const Normalization norm = suspect_norm.mean.empty() ? k.norm : suspect_norm;
    const Tensor exact = exact_gradient(suspect, norm, k);
    Evidence e = to_evidence(gradsigns_evidence(exact, k), alpha);
    LocalModelOracle oracle(suspect, norm, "suspect model");
    const ZerothOrderGradient zo = zeroth_order_gradient(oracle, k);
    const GradSignsEvidence zev = gradsigns_evidence(zo.g, k);
    e.details["zeroth_order_rel_error"] = relative_error(zo.g, exact);
    e.details["zeroth_order_ber"] = zev.ber;
    e.details["zeroth_order_queries"] = zo.queries;
    return e;
  }

  Evidence query(Oracle& oracle, const SchemeKeys& keys, double alpha) const override {
    const GradSignsKeys& k = gradsigns_of(keys);
    SIGNET_CHECK(oracle.has_scores(),
                 "gradsigns verification needs class scores (softmax probabilities); the oracle '{}' answers labels "
                 "only",
                 oracle.describe());
    const ZerothOrderGradient zo = zeroth_order_gradient(oracle, k);
    Evidence e = to_evidence(gradsigns_evidence(zo.g, k), alpha);
    e.details["queries"] = zo.queries;
    e.details["samples"] = zo.samples;
    e.text += fmt::format(", {} queries", zo.queries);
    return e;
  }

  std::unique_ptr<TrainingTerm> training_term(Model& model, const Tensor& x, int64_t, Rng& rng) const override {
    return std::make_unique<GradSignsTerm>(model, x, rng);
  }
};

}  // namespace

const Scheme& gradsigns_scheme() {
  static const GradSigns s;
  return s;
}

}  // namespace signet
