// The watermark Scheme interface and its registry (name -> scheme).
//
// A scheme declares its options (each is a `signet embed` flag and a key of an experiment
// config's [[schemes]] table), makes keys and embeds them (training from scratch or fine-tuning
// a trained model), reads its keys back from a keys file, and extracts evidence from a suspect:
// white-box (the model itself) and/or black-box (an Oracle's answers). Every decision is an
// exact p-value against the null hypothesis the scheme states (info().null_hypothesis), claimed
// when p <= alpha.
//
// cli/ and eval/ reach schemes only through find_scheme() / all_schemes(): they never spell a
// scheme's name, and choose what to do by the capabilities in SchemeInfo.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "datasets/dataset.h"
#include "engine/error.h"
#include "models/model_io.h"
#include "models/trainer.h"
#include "watermark/verify/key_rng.h"
#include "watermark/verify/keys_file.h"
#include "watermark/verify/oracle.h"

namespace signet {

struct SchemeOption {
  enum class Type { Integer, Real, Text };
  std::string name;                  // flag --name, config key name
  Type type = Type::Text;
  std::string default_value;         // as text ("" for a text option: unset)
  std::string help;
  double min = 0, max = 0;           // numbers: allowed range (inclusive)
  std::vector<std::string> choices;  // text: allowed values (empty: any)
  bool personal = false;  // the owner's own value (a signature string): an overwriting attacker does not copy it
  // Left out of canonical() while at its default: for an option added after marks were cached
  // whose default does what was done before it existed, so those names and key domains stay valid.
  bool omit_at_default = false;
};

SchemeOption integer_option(std::string name, int64_t def, double min, double max, std::string help);
SchemeOption real_option(std::string name, double def, double min, double max, std::string help);
SchemeOption text_option(std::string name, std::string def, std::string help, std::vector<std::string> choices = {},
                         bool personal = false);

// The values of one scheme's options, defaults filled in; set() checks type, range and choices.
class SchemeParams {
 public:
  SchemeParams() = default;
  SchemeParams(std::string scheme, const std::vector<SchemeOption>& options);
  // Error naming the option as `what` (e.g. the flag "--bits"; default "<scheme> option <name>").
  void set(const std::string& name, const std::string& value, const std::string& what = "");
  bool has(const std::string& name) const { return values_.count(name) > 0; }
  bool given(const std::string& name) const { return given_.count(name) > 0; }
  int64_t integer(const std::string& name) const;
  double real(const std::string& name) const;
  const std::string& text(const std::string& name) const;
  // "name=value;..." in name order: every value (defaults too, except omit_at_default options at
  // theirs), for cache names and domains.
  std::string canonical() const;
  const std::map<std::string, std::string>& values() const { return values_; }

 private:
  const SchemeOption& option(const std::string& name) const;
  std::string scheme_;
  std::vector<SchemeOption> options_;
  std::map<std::string, std::string> values_;
  std::map<std::string, bool> given_;
};

struct SchemeInfo {
  std::string name, summary, paper;
  bool white_box = false;     // extract() reads the suspect's weights or activations
  bool black_box = false;     // query() needs only an Oracle's answers
  bool from_scratch = false;  // can train a fresh model with the mark (else: fine-tunes a trained one)
  std::string size_option;    // the option a grid sweeps; also the results column ("bits", "keys")
  std::string size_symbol;    // in labels: "N", "K"
  std::string short_label;    // variant labels: "<short_label> <symbol>=<n>"
  std::string metric;         // the evidence statistic: "ber", "mismatches"
  std::string null_hypothesis;
  double default_alpha = 1e-6;
  int64_t finetune_epochs = 1;  // default epochs when marking a trained model
};

// Keys: the owner's secret, written to and read from a keys file (watermark/verify/keys_file.h).
class SchemeKeys {
 public:
  virtual ~SchemeKeys() = default;
  virtual std::string scheme() const = 0;
  virtual int64_t size() const = 0;           // the size option's value (bits, keys)
  virtual std::string model() const = 0;      // the architecture the keys were made for
  virtual std::string layer() const = 0;      // the layer they concern ("" when none)
  virtual Normalization norm() const = 0;
  virtual ModelConfig suspect_config() const = 0;  // for suspect files without Signet metadata
  virtual nlohmann::json describe() const = 0;     // fields for JSON output
  virtual std::string summary() const = 0;         // one line for humans
  virtual NamedTensors to_file() const = 0;        // scheme tensors and metadata
  virtual std::shared_ptr<SchemeKeys> clone() const = 0;
  // Provenance recorded in the keys file: signet.marked_sha256, signet.unmarked_sha256,
  // signet.key_source, signet.key_seed (only with --key-seed), signet.dataset, ...
  std::map<std::string, std::string> provenance;
};

struct Evidence {
  std::string metric;        // SchemeInfo::metric
  double value = 0;          // the statistic (BER, mismatches)
  double threshold = 0;      // the boundary at alpha ("ber": largest claimed; "mismatches": claimed below)
  int64_t matches = 0, total = 0;
  double p_value = 1;
  bool claimed = false;      // p_value <= alpha
  nlohmann::json details;    // scheme fields for JSON output (ber, bits, mismatches, theta, ...)
  std::string text;          // the statistic for humans, e.g. "BER 0.0000 (32/32 bits)"
};

struct EmbedJob {
  Model model;               // freshly initialised (from scratch) or trained (from_trained)
  Normalization norm;        // empty: the training set's
  bool from_trained = false;
  const Dataset* train = nullptr;
  const Dataset* test = nullptr;  // optional: accuracies before and after
  TrainConfig train_cfg;     // lr, warm-up and epochs resolved; seed = the data order
  SchemeParams params;
  KeyRandomness keys;        // where key material comes from
  std::function<void(const std::string&)> log;  // progress lines (may be empty)
};

struct Embedded {
  Model model;
  Normalization norm;
  std::vector<std::shared_ptr<SchemeKeys>> keys;  // key_sets(params) of them
  double accuracy_before = -1;  // test accuracy of the trained model (-1: from scratch or no test set)
  double accuracy = -1;         // of the marked model (-1: no test set)
  double embed_seconds = 0;     // key generation + training with the mark (no evaluation)
  nlohmann::json report;        // what the embedding did (JSON)
  std::vector<std::string> lines;  // the same for humans
};

// A scheme's per-step embedding term on synthetic keys, for `signet bench --scheme`: the taps it
// reads, extra trainable tensors, and the loss added to each step.
class TrainingTerm {
 public:
  virtual ~TrainingTerm() = default;
  virtual std::vector<std::string> taps() const = 0;
  virtual NamedTensorList params() const = 0;
  virtual Tensor loss(const Taps& taps, const Tensor& labels) const = 0;
};

class Scheme {
 public:
  virtual ~Scheme() = default;
  virtual const SchemeInfo& info() const = 0;
  virtual const std::vector<SchemeOption>& options() const = 0;
  SchemeParams params() const { return SchemeParams(info().name, options()); }
  // Checks the options together before any data is read.
  virtual void check(const SchemeParams& p) const {}
  // Options whose default depends on the architecture: sets those the user did not give for
  // `model` (a registry name). Called by `signet embed` and the experiment grid before embedding.
  virtual void model_defaults(SchemeParams& p, const std::string& model) const {}
  // How many key sets (keys files) one embedding makes.
  virtual int64_t key_sets(const SchemeParams& p) const { return 1; }
  // The layer the mark is made at, for grid domains and reports ("" when none).
  virtual std::string layer(const SchemeParams& p, const std::string& model) const { return ""; }
  virtual Embedded embed(EmbedJob job) const = 0;
  virtual std::shared_ptr<SchemeKeys> read_keys(const KeysFile& file) const = 0;
  // White-box evidence (info().white_box); the default queries the model as a label oracle.
  virtual Evidence extract(Model& suspect, const Normalization& suspect_norm, const SchemeKeys& keys,
                           double alpha) const;
  // Black-box evidence (info().black_box); the default says the scheme needs the model.
  virtual Evidence query(Oracle& oracle, const SchemeKeys& keys, double alpha) const;
  // Keys to read a suspect of another architecture with (default: the keys themselves).
  virtual std::shared_ptr<SchemeKeys> for_suspect(const std::shared_ptr<SchemeKeys>& keys, Model& suspect) const {
    return keys;
  }
  // Extraction after aligning the suspect's units to the marked model's (feature permutation):
  // reported without a decision. `marked` may be null when the keys hold the reference.
  virtual bool can_align() const { return false; }
  virtual Evidence extract_aligned(Model& suspect, const SchemeKeys& keys, Model* marked) const;
  // Reports: what a variant is, e.g. "DeepSigns hidden layer, 32 bits"; and a short note for its
  // label ("random keys"; "" when none).
  virtual std::string describe(const SchemeParams& p) const = 0;
  virtual std::string variant_note(const SchemeParams& p) const { return ""; }
  // The per-step term for benchmarks (keys drawn from rng); null when embedding adds none.
  virtual std::unique_ptr<TrainingTerm> training_term(Model& model, const Tensor& x, int64_t classes, Rng& rng) const {
    return nullptr;
  }
  // The decision level a verifier uses when none is given.
  virtual double default_alpha(const SchemeKeys& keys) const { return info().default_alpha; }
};

// The scheme's own keys inside `keys` (Wrapper: the scheme's SchemeKeys class, with keys());
// Error when they were made by another scheme.
template <class Wrapper>
const auto& keys_as(const SchemeKeys& keys, const std::string& scheme) {
  const auto* w = dynamic_cast<const Wrapper*>(&keys);
  SIGNET_CHECK(w != nullptr && keys.scheme() == scheme, "{} keys given to the {} scheme", keys.scheme(), scheme);
  return w->keys();
}

const Scheme& find_scheme(const std::string& name);  // Error listing the registered schemes
const std::vector<const Scheme*>& all_schemes();
std::string scheme_names();                          // "a, b, c"

// Keys files of every scheme: one format (signet.format = keys, signet.scheme, signet.keys_version).
std::string save_keys(const std::string& path, const SchemeKeys& keys);  // returns the SHA-256
struct LoadedKeys {
  const Scheme* scheme = nullptr;
  std::shared_ptr<SchemeKeys> keys;
  std::string path, sha256;
};
LoadedKeys load_keys(const std::string& path);

}  // namespace signet
