// deepsigns-output behind the Scheme interface (watermark/scheme.h): the parts are in output.h.
#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <limits>

#include "watermark/deepsigns/output.h"
#include "watermark/deepsigns/schemes.h"

namespace signet {
namespace {

class OutputSchemeKeys final : public SchemeKeys {
 public:
  explicit OutputSchemeKeys(OutputKeys k) : k_(std::move(k)) {}
  std::string scheme() const override { return kDeepSignsOutput; }
  int64_t size() const override { return k_.size(); }
  std::string model() const override { return k_.model; }
  std::string layer() const override { return k_.layer; }
  Normalization norm() const override { return k_.norm; }
  ModelConfig suspect_config() const override {
    ModelConfig c;
    c.input_shape = Shape(k_.key_inputs.shape().begin() + 1, k_.key_inputs.shape().end());
    c.num_classes = k_.num_classes;
    return c;
  }
  nlohmann::json describe() const override {
    return {{"keys_k", k_.size()}, {"classes", k_.num_classes}, {"confidence", k_.confidence},
            {"theta", k_.theta}, {"key_search", k_.key_search}, {"decision", "detected when mismatches < theta"}};
  }
  std::string summary() const override {
    return fmt::format("K = {} keys, C = {} classes, p = {}: detected when mismatches < theta = {}", k_.size(),
                       k_.num_classes, k_.confidence, k_.theta);
  }
  NamedTensors to_file() const override { return output_keys_tensors(k_); }
  std::shared_ptr<SchemeKeys> clone() const override { return std::make_shared<OutputSchemeKeys>(*this); }
  const OutputKeys& keys() const { return k_; }

 private:
  OutputKeys k_;
};

const OutputKeys& output_of(const SchemeKeys& k) { return keys_as<OutputSchemeKeys>(k, kDeepSignsOutput); }

class DeepSignsOutput final : public Scheme {
 public:
  const SchemeInfo& info() const override {
    static const SchemeInfo i = [] {
      SchemeInfo s;
      s.name = kDeepSignsOutput;
      s.summary = "K secret random inputs fine-tuned to secret random labels; verified from labels alone";
      s.paper = "DeepSigns (Rouhani, Chen, Koushanfar; ASPLOS'19), Section 3.2";
      s.white_box = true;  // by querying the model itself
      s.black_box = true;
      s.from_scratch = false;
      s.size_option = "keys";
      s.size_symbol = "K";
      s.short_label = "output";
      s.metric = "mismatches";
      s.null_hypothesis = "an unrelated model answers each key input with its key label with probability 1/C: "
                          "matches ~ Binomial(K, 1/C)";
      s.default_alpha = 1e-3;
      s.finetune_epochs = kOutputEpochLimit;
      return s;
    }();
    return i;
  }

  const std::vector<SchemeOption>& options() const override {
    constexpr double kMax = 9.0e15;
    static const std::vector<SchemeOption> o = {
        integer_option("keys", 20, 1, 100000, "key length K"),
        integer_option("candidates", 0, 0, 10000000, "candidate keys K' (0: 20 K)"),
        text_option("key_search", "density",
                    "density (PCA + eps-ball, the paper) | sparsest (the sparsest fifth of random candidates) | "
                    "random (the released code)",
                    {"density", "sparsest", "random"}),
        real_option("explained_variance", 0.95, 1e-6, 1, "share of the activation variance the density search's PCA keeps"),
        real_option("confidence", 0.999, 0.5, 1 - 1e-12, "decision threshold p of Eq. (5)"),
        integer_option("finetune_subset", 0, 0, kMax, "training images mixed with the keys (0: all)"),
        integer_option("key_repeat", 0, 0, 1000000, "copies of each candidate key per epoch (0: keys are 1/6 of the mixture)"),
        text_option("layer", "", "the density search's tap (default: the second-to-last layer)"),
    };
    return o;
  }

  std::string layer(const SchemeParams& p, const std::string& model) const override {
    return p.text("layer").empty() ? penultimate_tap(model) : p.text("layer");
  }

  std::string describe(const SchemeParams& p) const override {
    return fmt::format("DeepSigns output layer, K = {} keys ({} search), fine-tuned until 99% of the candidates are "
                       "right",
                       p.integer("keys"), p.text("key_search"));
  }

  std::string variant_note(const SchemeParams& p) const override {
    const std::string& s = p.text("key_search");
    return s == "density" ? "" : s + " keys";
  }

  Embedded embed(EmbedJob job) const override {
    SIGNET_CHECK(job.from_trained,
                 "{} marks a trained model by fine-tuning it: start from one (`signet embed --from "
                 "trained.safetensors`, made with `signet train`; in a config: from = \"base\")",
                 kDeepSignsOutput);
    SIGNET_CHECK(job.train != nullptr, "{}: no data to embed with", kDeepSignsOutput);
    OutputConfig oc;
    oc.keys = job.params.integer("keys");
    oc.candidates = job.params.integer("candidates");
    oc.key_search = job.params.text("key_search");
    oc.density.explained_variance = job.params.real("explained_variance");
    oc.confidence = job.params.real("confidence");
    oc.finetune_subset = job.params.integer("finetune_subset");
    oc.key_repeat = job.params.integer("key_repeat");
    oc.layer = job.params.text("layer");
    job.train_cfg.progress = false;  // one short training run per epoch: no bar for each
    Embedded e;
    e.model = std::move(job.model);
    e.norm = job.norm.mean.empty() ? normalization_of(*job.train) : job.norm;
    if (job.log)
      job.log(fmt::format("{} on {}: K = {} keys from {} candidates ({} search), fine-tuning at lr {} for at most {} "
                          "epochs",
                          kDeepSignsOutput, e.model.name, oc.keys, oc.candidates > 0 ? oc.candidates : 20 * oc.keys,
                          oc.key_search, job.train_cfg.lr, job.train_cfg.epochs));
    if (job.test) e.accuracy_before = evaluate_model(e.model, *job.test, e.norm).accuracy;
    const KeyRandomness kr = job.keys.under(kDeepSignsOutput).under(e.model.name).under(layer(job.params, e.model.name));
    Rng rng = kr.make();
    OutputEmbedReport rep;
    const auto t0 = std::chrono::steady_clock::now();
    OutputKeys keys = embed_output(e.model, *job.train, e.norm, oc, job.train_cfg, rng, &rep);
    e.embed_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    e.accuracy = job.test ? evaluate_model(e.model, *job.test, e.norm).accuracy : -1;
    kr.record(keys.extra);
    keys.extra["signet.dataset"] = job.train->name;
    LocalModelOracle self(e.model, e.norm, "marked model");
    const OutputEvidence ev = verify_output(self, keys);
    e.report = {{"key_search", oc.key_search}, {"layer", rep.layer}, {"keys_k", keys.size()},
                {"candidates", rep.candidates}, {"drawn", rep.drawn}, {"rounds", rep.rounds},
                {"pca_components", rep.pca_components}, {"pca_explained", rep.explained}, {"eps", rep.eps},
                {"density_threshold", rep.density_threshold}, {"search_seconds", rep.search_seconds},
                {"finetune_seconds", rep.finetune_seconds}, {"finetune_epochs", rep.finetune_epochs},
                {"mixture_size", rep.mixture_size}, {"key_repeat", rep.key_repeat},
                {"epoch_key_accuracy", rep.epoch_key_accuracy}, {"candidate_key_accuracy", rep.candidate_key_accuracy},
                {"right_on_marked", rep.right_on_marked}, {"wrong_on_unmarked", rep.wrong_on_unmarked},
                {"survivors", rep.survivors},
                {"key_yield", static_cast<double>(rep.survivors) / static_cast<double>(rep.candidates)},
                {"mismatches", ev.mismatches}, {"theta", ev.theta}, {"confidence", ev.confidence},
                {"p_value", ev.p_value}, {"detected", ev.detected}};
    std::string search = fmt::format("key search ({}, layer {}): {} candidates", oc.key_search, rep.layer,
                                     rep.candidates);
    if (rep.pca_components > 0 && oc.key_search == "sparsest")
      search += fmt::format(" (the farthest from the training activations of {} drawn; PCA {} components, {:.1f}% "
                            "of the variance)",
                            rep.drawn, rep.pca_components, 100 * rep.explained);
    else if (rep.pca_components > 0)
      search += fmt::format(" ({} drawn; PCA {} components, {:.1f}% of the variance; eps {:.4g}, accept < {} "
                            "neighbours)",
                            rep.drawn, rep.pca_components, 100 * rep.explained, rep.eps, rep.density_threshold);
    e.lines.push_back(search + fmt::format(" in {:.2f}s", rep.search_seconds));
    e.lines.push_back(fmt::format("fine-tuning: {} epochs on {} images (keys x{}), {:.1f}% of the candidates right; "
                                  "{} of {} survive key generation 2",
                                  rep.finetune_epochs, rep.mixture_size, rep.key_repeat,
                                  100 * rep.candidate_key_accuracy, rep.survivors, rep.candidates));
    e.lines.push_back(fmt::format("marked model: {}/{} mismatches (theta {}), p-value {:.3g}, {}", ev.mismatches,
                                  ev.keys, ev.theta, ev.p_value, ev.detected ? "detected" : "NOT detected"));
    e.keys.push_back(std::make_shared<OutputSchemeKeys>(keys));
    e.keys.back()->provenance = keys.extra;
    return e;
  }

  std::shared_ptr<SchemeKeys> read_keys(const KeysFile& file) const override {
    auto k = std::make_shared<OutputSchemeKeys>(output_keys_from_file(file));
    k->provenance = file.nt.metadata;
    return k;
  }

  Evidence query(Oracle& oracle, const SchemeKeys& keys, double alpha) const override {
    OutputKeys k = output_of(keys);
    // The keys' own p when alpha is its default, so theta is exactly the stored one.
    if (alpha != default_alpha(keys)) k.confidence = 1 - alpha;
    const OutputEvidence o = verify_output(oracle, k);
    Evidence e;
    e.metric = "mismatches";
    e.value = static_cast<double>(o.mismatches);
    e.threshold = static_cast<double>(o.theta);
    e.matches = o.matches;
    e.total = o.keys;
    e.p_value = o.p_value;
    e.claimed = o.detected;
    e.details = {{"keys_k", o.keys},   {"matches", o.matches}, {"mismatches", o.mismatches},
                 {"theta", o.theta},   {"confidence", o.confidence}, {"detected", o.detected},
                 {"queries", oracle.queries()}};
    e.text = fmt::format("{}/{} mismatches (theta {})", o.mismatches, o.keys, o.theta);
    return e;
  }

  double default_alpha(const SchemeKeys& keys) const override { return 1 - output_of(keys).confidence; }
};

}  // namespace

const Scheme& deepsigns_output_scheme() {
  static const DeepSignsOutput s;
  return s;
}

}  // namespace signet
