// uchida behind the Scheme interface (watermark/scheme.h): the parts are in uchida.h.
#include <fmt/format.h>

#include <chrono>

#include "engine/autograd.h"
#include "watermark/uchida/schemes.h"
#include "watermark/uchida/uchida.h"
#include "watermark/verify/stats.h"

namespace signet {
namespace {

class UchidaSchemeKeys final : public SchemeKeys {
 public:
  explicit UchidaSchemeKeys(UchidaKeys k) : k_(std::move(k)) {}
  std::string scheme() const override { return kUchida; }
  int64_t size() const override { return k_.bits(); }
  std::string model() const override { return k_.model; }
  std::string layer() const override { return k_.layer; }
  Normalization norm() const override { return k_.norm; }
  ModelConfig suspect_config() const override { return k_.config; }
  nlohmann::json describe() const override {
    return {{"layer", k_.layer},
            {"bits", k_.bits()},
            {"carrier_length", k_.X.size(1)},
            {"lambda", std::stod(fmt::format("{}", k_.lambda))}};  // as written in the keys file
  }
  std::string summary() const override { return fmt::format("layer {}, {} bits", k_.layer, k_.bits()); }
  NamedTensors to_file() const override { return uchida_keys_tensors(k_); }
  std::shared_ptr<SchemeKeys> clone() const override { return std::make_shared<UchidaSchemeKeys>(*this); }
  const UchidaKeys& keys() const { return k_; }

 private:
  UchidaKeys k_;
};

const UchidaKeys& uchida_of(const SchemeKeys& k) { return keys_as<UchidaSchemeKeys>(k, kUchida); }

// The regularizer on the model's default layer with 64 random bits: what one embedding step adds.
class UchidaTerm final : public TrainingTerm {
 public:
  UchidaTerm(Model& model, Rng& rng) : model_(&model) {
    keys_ = uchida_key_generation(model, "", 64, 0.01f, "", rng);
  }
  std::vector<std::string> taps() const override { return {}; }
  NamedTensorList params() const override { return {}; }
  Tensor loss(const Taps&, const Tensor&) const override {
    return uchida_regularizer(uchida_weight(*model_, keys_.layer), keys_.X, keys_.b, keys_.lambda);
  }

 private:
  Model* model_;
  UchidaKeys keys_;
};

class Uchida final : public Scheme {
 public:
  const SchemeInfo& info() const override {
    static const SchemeInfo i = [] {
      SchemeInfo s;
      s.name = kUchida;
      s.summary = "T-bit signature in the mean filter of one Conv2d or Linear layer's weights";
      s.paper = "Uchida, Nagai, Sakazawa, Satoh; ICMR'17";
      s.white_box = true;
      s.from_scratch = true;
      s.size_option = "bits";
      s.size_symbol = "T";
      s.short_label = "uchida";
      s.metric = "ber";
      s.null_hypothesis = "an unrelated model's extracted bits match the signature like fair coins: "
                          "matches ~ Binomial(T, 1/2)";
      s.default_alpha = 1e-6;
      s.finetune_epochs = 1;
      return s;
    }();
    return i;
  }

  const std::vector<SchemeOption>& options() const override {
    static const std::vector<SchemeOption> o = {
        text_option("layer", "", "weight carrying the mark, a parameter name such as fc2.weight (default: the middle "
                                 "Conv2d weight, or the middle Linear weight of a model without convolutions)"),
        integer_option("bits", 64, 1, 4096, "signature bits (T); at most the layer's weights per filter"),
        real_option("lambda", 0.01, 0, 1e6, "weight of the embedding regularizer (sum of the bits' BCE)"),
        text_option("signature", "", "owner string: the signature is its SHA-256 bits (default: random bits)", {},
                    /*personal=*/true),
    };
    return o;
  }

  std::string layer(const SchemeParams& p, const std::string& model) const override {
    if (!p.text("layer").empty()) return p.text("layer");
    Rng init(1);
    return uchida_default_layer(build_model(model, default_model_config(model), init));
  }

  std::string describe(const SchemeParams& p) const override {
    return fmt::format("Uchida weight mark, {} bits{}", p.integer("bits"),
                       p.text("signature").empty() ? "" : " from an owner string");
  }

  Embedded embed(EmbedJob job) const override {
    SIGNET_CHECK(job.train != nullptr, "{}: no data to embed with", kUchida);
    Embedded e;
    e.model = std::move(job.model);
    e.norm = job.norm.mean.empty() ? normalization_of(*job.train) : job.norm;
    if (job.from_trained && job.test) e.accuracy_before = evaluate_model(e.model, *job.test, e.norm).accuracy;
    const auto t0 = std::chrono::steady_clock::now();
    const std::string layer =
        job.params.text("layer").empty() ? uchida_default_layer(e.model) : job.params.text("layer");
    const KeyRandomness kr = job.keys.under(kUchida).under(e.model.name).under(layer);
    Rng rng = kr.make();
    UchidaKeys k = uchida_key_generation(e.model, layer, job.params.integer("bits"),
                                         static_cast<float>(job.params.real("lambda")), job.params.text("signature"),
                                         rng);
    k.norm = e.norm;
    k.dataset = job.train->name;
    kr.record(k.extra);
    if (job.log)
      job.log(fmt::format("embedding {} bits in the weights of {} of {}{}", k.bits(), k.layer, e.model.name,
                          job.from_trained ? ", fine-tuning a trained model" : ", training from scratch"));
    const TrainResult tr = embed_uchida(e.model, *job.train, e.norm, k, job.train_cfg);
    e.embed_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    e.accuracy = job.test ? evaluate_model(e.model, *job.test, e.norm).accuracy : -1;
    const UchidaEvidence ev = extract_uchida(e.model, k);
    e.lines.push_back(fmt::format("layer {}: BER {:.4f} ({}/{} bits) on the marked model", k.layer, ev.ber,
                                  ev.matches, ev.total));
    e.report = {{"train_seconds", tr.train_seconds}, {"epochs", tr.epochs_run}, {"layer", k.layer},
                {"bits", k.bits()}, {"ber", ev.ber}, {"matches", ev.matches}, {"p_value", ev.p_value}};
    e.keys.push_back(std::make_shared<UchidaSchemeKeys>(k));
    e.keys.back()->provenance = k.extra;
    return e;
  }

  std::shared_ptr<SchemeKeys> read_keys(const KeysFile& file) const override {
    auto k = std::make_shared<UchidaSchemeKeys>(uchida_keys_from_file(file));
    k->provenance = file.nt.metadata;
    return k;
  }

  Evidence extract(Model& suspect, const Normalization&, const SchemeKeys& keys, double alpha) const override {
    const UchidaEvidence h = extract_uchida(suspect, uchida_of(keys));
    Evidence e;
    e.metric = "ber";
    e.value = h.ber;
    e.threshold = ber_threshold(h.total, alpha);
    e.matches = h.matches;
    e.total = h.total;
    e.p_value = h.p_value;
    e.claimed = h.p_value <= alpha;
    e.details = {{"ber", h.ber},          {"bits", h.total},       {"matches", h.matches},
                 {"p_value", h.p_value},  {"detected", e.claimed}, {"layer", uchida_of(keys).layer}};
    e.text = fmt::format("BER {:.4f} ({}/{} bits)", h.ber, h.matches, h.total);
    return e;
  }

  std::unique_ptr<TrainingTerm> training_term(Model& model, const Tensor&, int64_t, Rng& rng) const override {
    return std::make_unique<UchidaTerm>(model, rng);
  }
};

}  // namespace

const Scheme& uchida_scheme() {
  static const Uchida s;
  return s;
}

}  // namespace signet
