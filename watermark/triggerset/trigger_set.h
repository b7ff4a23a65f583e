// Trigger-set watermarks, the common part: a secret set of K inputs with owner-chosen labels is
// trained into the model, and a suspect is asked for its labels of those inputs (black box).
//
// Each scheme (Zhang et al. content / unrelated / noise, Adi et al., frontier stitching) only
// says how its K inputs and labels are made (TriggerSetScheme::generate) and what an unmarked
// model's agreement with the labels is (the null rate). Everything else is here:
//  - embedding by mixing: the training data plus the triggers, each repeated key_repeat times,
//    trained in one run from scratch (every epoch sees them, as Zhang et al. do), or fine-tuning
//    a trained model (`--from`) one epoch at a time at a constant rate until every trigger is
//    learnt or the epoch limit (--epochs) is reached;
//  - the decision. Statistic: matches M = triggers the suspect labels with the trigger label.
//    Null hypothesis: the suspect was not trained on these inputs, so it labels each one with
//    its trigger label with probability at most q0, independently: M <= Binomial(K, q0).
//    p-value = P[Binomial(K, q0) >= M], claimed when p <= alpha. q0 is per scheme:
//      "chance": labels drawn uniformly at random, independently of the inputs (Adi): any model
//        independent of the key material agrees with each with probability exactly 1/C.
//      "reference": labels the owner chose (one target class, or the true class) are not random:
//        an unmarked model can agree with many (an unmarked clothing model may send most digits
//        to one class; an unmarked model labels most frontier inputs right). q0 is measured at
//        embedding time on unmarked reference models (the unmarked model being fine-tuned, and/or
//        a reference trained as long without the triggers, and references of other architectures,
//        option other_references) as the one-sided Clopper-Pearson upper confidence bound (level
//        null_confidence) of its matches, the largest over references. Other architectures matter:
//        digits an unmarked CNN rarely sends to a class, an unmarked MLP may send there often.
//        The bound covers the sampling of the K triggers, not how much unmarked models differ
//        from each other; schemes that choose the label (Zhang's target class) therefore take
//        one the references rarely answer (choose_labels), where unmarked models agree little.
//      q0 and how it was measured are stored in the keys file (signet.null_*).
//  - keys files (the trigger inputs as raw [0, 1] pixels, labels, q0) and black-box queries.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "watermark/scheme.h"

namespace signet {

// Epochs of the independent reference model when fine-tuning (`signet train`'s default).
inline constexpr int64_t kReferenceFinetuneEpochs = 5;

// The architectures listed in other_references ("" or "none": none), checked: known image
// models, none twice, not `own` (whose reference is there already).
std::vector<std::string> other_reference_models(const std::string& list, const std::string& own);

struct TriggerKeys {
  std::string scheme, model, dataset;
  Tensor inputs;            // float32 [K, C, H, W], raw pixels in [0, 1]
  Tensor labels;            // int64 [K]
  int64_t num_classes = 10;
  Normalization norm;       // the model's input normalisation at embedding time
  double null_rate = 0;     // q0
  std::string null_kind;    // "chance" | "reference"
  std::string null_source;  // how q0 was found, for humans
  int64_t null_matches = -1, null_total = 0;  // the worst reference's matches (reference only)
  double null_confidence = 0;                 // the upper bound's level (reference only)
  std::map<std::string, std::string> extra;   // scheme parameters and provenance
  int64_t size() const { return labels.numel(); }
};

// One-sided Clopper-Pearson upper bound of a binomial rate after `matches` of `n`, at
// `confidence`: the q with P[Binomial(n, q) <= matches] = 1 - confidence (1 when matches = n).
double clopper_pearson_upper(int64_t matches, int64_t n, double confidence);
// Fewest matches of K claimed at level alpha against rate q0 (K + 1 when none is).
int64_t matches_needed(int64_t K, double q0, double alpha);

struct TriggerEvidence {
  int64_t keys = 0, matches = 0, needed = 0;
  double p_value = 1, null_rate = 0;
  bool detected = false;
};
TriggerEvidence verify_triggers(Oracle& oracle, const TriggerKeys& keys, double alpha);
// Matches of a local model's labels of the triggers (eval mode).
int64_t trigger_matches(Model& model, const Normalization& norm, const Tensor& inputs, const Tensor& labels);

NamedTensors trigger_keys_tensors(const TriggerKeys& k);
TriggerKeys trigger_keys_from_file(const KeysFile& file, const std::string& scheme);

// The training data with the triggers appended `repeat` times (raw pixels, as data sets hold).
Dataset mix_triggers(const Dataset& train, const Tensor& inputs, const Tensor& labels, int64_t repeat);
// key_repeat 0: enough copies that the triggers are about 1/20 of the mixture.
int64_t trigger_repeat(int64_t key_repeat, int64_t train_size, int64_t keys);

// What a scheme makes: the trigger inputs and labels and its parameters for the keys file.
struct TriggerSet {
  Tensor inputs, labels;
  std::map<std::string, std::string> meta;  // signet.<name> -> value
  std::vector<std::string> lines;           // what generation did, for humans
};

// The Scheme of every trigger-set watermark; a scheme fills in info(), options(), describe(),
// generate() and says how its null rate is found.
class TriggerSetScheme : public Scheme {
 public:
  enum class Null { Chance, Reference };
  Embedded embed(EmbedJob job) const override;
  std::shared_ptr<SchemeKeys> read_keys(const KeysFile& file) const override;
  Evidence query(Oracle& oracle, const SchemeKeys& keys, double alpha) const override;
  // Reference null only: other_references defaults to mnist-mlp for every image model but
  // mnist-mlp itself (the cheapest model, so a second architecture costs little).
  void model_defaults(SchemeParams& p, const std::string& model) const override;

 protected:
  // The options every trigger-set scheme has (keys, key_repeat; reference ones when Reference).
  static std::vector<SchemeOption> common_options(Null null, int64_t default_keys);
  static SchemeInfo common_info(const std::string& name, bool from_scratch);
  virtual Null null_kind() const = 0;
  // A reference model trained without the triggers even when fine-tuning (frontier stitching:
  // the unmarked model is the one the triggers were crafted against, not an independent one).
  virtual bool independent_reference() const { return false; }
  // The K inputs and labels, from `rng` (the key material); `model` is the model being marked
  // (trained when job.from_trained), `norm` its input normalisation.
  virtual TriggerSet generate(const EmbedJob& job, Model& model, const Normalization& norm, Rng& rng) const = 0;
  // Reference null only: may set the labels from the reference models' answers (one vector of K
  // answers each), e.g. a target class they rarely answer. Called before the mark is trained.
  virtual void choose_labels(const EmbedJob& job, const std::vector<std::vector<int64_t>>& reference_answers,
                             TriggerSet& ts, Rng& rng) const {}
};

}  // namespace signet
