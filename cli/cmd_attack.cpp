// signet attack <name>: removal attacks on a (stolen) model file, written to a new model file.
// The attacks are those of watermark/attacks/attacks.h; none of them sees the owner's keys.
//   finetune   plain cross-entropy on the training data at a small constant learning rate
//   prune      magnitude pruning of --fraction of every Linear/Conv2d weight tensor, then
//              (--finetune-epochs > 0) sparse fine-tuning that keeps the pruned weights at zero
//   quantize   every Linear/Conv2d weight tensor to 2^--bits levels between its min and max
//   permute    reorders the units of hidden layers (--layers, default all) and the next layer's
//              inputs: the same function, a scrambled unit order
//   overwrite  the attacker embeds its own DeepSigns mark (--scheme deepsigns-hidden|output)
// Flags are checked before any data is read; a failed attack writes no file.
#include <chrono>
#include <cmath>
#include <functional>
#include <memory>

#include "cli/commands.h"
#include "cli/common.h"
#include "watermark/attacks/attacks.h"

namespace signet::cli {

namespace {
struct AttackArgs {
  std::string name, weights, out, model, dataset = "fashion-mnist", data_dir;
  CLI::Option* dataset_opt = nullptr;
  TrainConfig cfg;
  int threads = 0;
  bool json = false, quiet = false;
  // prune
  double fraction = -1;
  int64_t finetune_epochs = 0;
  // quantize
  int bits = 0;
  // permute
  std::string layers;
  uint64_t perm_seed = 1;
  // overwrite
  std::string scheme = "deepsigns-hidden", layer, keys_out, key_search = "density";
  int64_t wm_bits = 32, wm_keys = 20, candidates = 0;
  float lambda1 = 0.01f, lambda2 = 0.01f;
  uint64_t attacker_seed = 2;
  // Runs after the model file is written (the attacker's keys file), so that a failed attack
  // leaves no file behind.
  std::function<void(nlohmann::json&)> after_save;
};


CLI::App* add_attack(CLI::App* parent, const std::string& name, const std::string& help, std::shared_ptr<AttackArgs> a,
                     bool trains) {
  auto* c = parent->add_subcommand(name, help);
  c->add_option("--weights", a->weights, "the model to attack (.safetensors)")->required();
  c->add_option("--out", a->out, "where to write the attacked model")->required();
  c->add_option("--model", a->model, "model name (checked against the file)");
  a->dataset_opt = c->add_option("--dataset", a->dataset,
                                 trains ? "data set (its training split is the attacker's data)"
                                        : "data set whose test split is evaluated before and after (optional)");
  if (trains) a->dataset_opt->capture_default_str();
  c->add_option("--data-dir", a->data_dir, "directory of the data set files");
  c->add_option("--threads", a->threads, "threads (0: all cores)");
  c->add_flag("--json", a->json, "print one JSON object on stdout");
  c->add_flag("--quiet", a->quiet, "no progress bar");
  if (trains) {
    c->add_option("--lr", a->cfg.lr, "learning rate")->capture_default_str();
    c->add_option("--batch-size", a->cfg.batch_size, "batch size")->capture_default_str();
    c->add_option("--optimizer", a->cfg.optimizer, "sgd | adam | adamw")->capture_default_str();
    c->add_option("--schedule", a->cfg.schedule, "constant | step | cosine")->capture_default_str();
  }
  return c;
}

// Runs one attack: checks, loads, attacks (`attack` fills the JSON with what it did), evaluates,
// writes the model, reports.
void run_attack(AttackArgs& a, bool trains, const std::function<void(Model&, const Dataset*, const Normalization&,
                                                                      nlohmann::json&)>& attack) {
  set_threads(a.threads);
  SIGNET_CHECK(a.out != a.weights, "--out must differ from --weights ({}): the input model is kept", a.out);
  a.cfg.progress = !a.quiet;
  const bool evaluate = trains || a.dataset_opt->count() > 0;
  Normalization norm;
  Model model = load_model(a.weights, a.model, &norm);  // first: a bad file fails before any data is read
  Dataset train, test;
  if (trains) train = load_split(a.dataset, "train", a.data_dir);
  if (evaluate) test = load_split(a.dataset, "test", a.data_dir);
  if (norm.mean.empty() && trains) norm = normalization_of(train);
  nlohmann::json j = {{"command", "attack"}, {"attack", a.name}, {"model", model.name}, {"weights", a.weights}};
  if (evaluate) j["dataset"] = a.dataset;
  const EvalResult before = evaluate ? evaluate_model(model, test, norm) : EvalResult{};
  const auto t0 = std::chrono::steady_clock::now();
  attack(model, trains ? &train : nullptr, norm, j);
  j["attack_seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (evaluate) {
    const EvalResult after = evaluate_model(model, test, norm);
    j["test_accuracy_before"] = before.accuracy;
    j["test_accuracy"] = after.accuracy;
  }
  save_model(a.out, model, norm, {{"signet.attack", a.name}, {"signet.attacked_from", a.weights},
                                  {"signet.attack_params", j.value("params", nlohmann::json::object()).dump()}});
  j["out"] = a.out;
  if (a.after_save) a.after_save(j);
  if (a.json) {
    print_json(j);
    return;
  }
  std::printf("attack %s on %s (%s)", a.name.c_str(), a.weights.c_str(), j["params"].dump().c_str());
  if (evaluate)
    std::printf(": test accuracy %.2f%% -> %.2f%%", 100 * j["test_accuracy_before"].get<double>(),
                100 * j["test_accuracy"].get<double>());
  std::printf(", written to %s\n", a.out.c_str());
  if (j.contains("summary")) std::printf("  %s\n", j["summary"].get<std::string>().c_str());
}

nlohmann::json train_params(const TrainConfig& c) {
  return {{"epochs", c.epochs}, {"lr", c.lr}, {"batch_size", c.batch_size}, {"optimizer", c.optimizer},
          {"schedule", c.schedule}, {"seed", c.seed}};
}
}  // namespace

void register_attack(CLI::App& app) {
  auto* attack = app.add_subcommand("attack", "Removal attacks on a model: finetune, prune, quantize, permute, overwrite");
  attack->require_subcommand(1);
  auto make_args = [](const std::string& name) {
    auto a = std::make_shared<AttackArgs>();
    a->name = name;
    a->cfg.lr = 0.005f;  // the fine-tuning rate: a tenth of the default training rate
    a->cfg.schedule = "constant";
    a->cfg.epochs = 1;
    return a;
  };

  {  // finetune
    auto a = make_args("finetune");
    auto* c = add_attack(attack, "finetune", "Fine-tune on the training data with plain cross-entropy", a, true);
    c->add_option("--epochs", a->cfg.epochs, "epochs")->capture_default_str();
    c->add_option("--seed", a->cfg.seed, "seed of the data order")->capture_default_str();
    c->callback([a] {
      run_attack(*a, true, [a](Model& m, const Dataset* train, const Normalization& norm, nlohmann::json& j) {
        j["params"] = train_params(a->cfg);
        const TrainResult r = finetune_attack(m, *train, norm, a->cfg);
        j["epoch_loss"] = r.epoch_loss;
      });
    });
  }
  {  // prune
    auto a = make_args("prune");
    auto* c = add_attack(attack, "prune", "Magnitude pruning, optionally followed by sparse fine-tuning", a, true);
    c->add_option("--fraction", a->fraction, "share of each weight tensor set to zero, in [0, 1]")->required();
    c->add_option("--finetune-epochs", a->finetune_epochs, "sparse fine-tuning epochs (pruned weights stay zero)")
        ->capture_default_str();
    c->add_option("--seed", a->cfg.seed, "seed of the fine-tuning data order")->capture_default_str();
    c->callback([a] {
      SIGNET_CHECK(a->fraction >= 0 && a->fraction <= 1, "--fraction must be in [0, 1], got {}", a->fraction);
      SIGNET_CHECK(a->finetune_epochs >= 0, "--finetune-epochs must be >= 0, got {}", a->finetune_epochs);
      // Without fine-tuning no training data is needed, only the test split for the accuracy.
      const bool trains = a->finetune_epochs > 0;
      run_attack(*a, trains, [a, trains](Model& m, const Dataset* train, const Normalization& norm, nlohmann::json& j) {
        a->cfg.epochs = a->finetune_epochs;
        j["params"] = {{"fraction", a->fraction}, {"finetune", trains ? train_params(a->cfg) : nlohmann::json()}};
        const PruneReport rep = prune_magnitude(m, a->fraction);
        if (trains) sparse_finetune(m, rep, *train, norm, a->cfg);
        j["pruned"] = rep.pruned;
        j["total"] = rep.total;
        j["pruned_fraction"] = rep.fraction();
        j["summary"] = fmt::format("pruned {} of {} weights ({:.2f}%) in {} tensors", rep.pruned, rep.total,
                                   100 * rep.fraction(), rep.masks.size());
      });
    });
  }
  {  // quantize
    auto a = make_args("quantize");
    auto* c = add_attack(attack, "quantize", "Quantize every Linear/Conv2d weight tensor to 2^bits levels", a, false);
    c->add_option("--bits", a->bits, "bits per weight, 1 to 16")->required();
    c->callback([a] {
      SIGNET_CHECK(a->bits >= 1 && a->bits <= 16, "--bits must be between 1 and 16, got {}", a->bits);
      run_attack(*a, false, [a](Model& m, const Dataset*, const Normalization&, nlohmann::json& j) {
        j["params"] = {{"bits", a->bits}};
        const QuantizeReport rep = quantize_weights(m, a->bits);
        j["tensors"] = rep.tensors;
        j["max_abs_error"] = rep.max_abs_error;
        j["summary"] = fmt::format("{} tensors at {} bits, largest weight change {:.3g}", rep.tensors, rep.bits,
                                   rep.max_abs_error);
      });
    });
  }
  {  // permute
    auto a = make_args("permute");
    auto* c = add_attack(attack, "permute", "Reorder hidden units (same function, scrambled unit order)", a, false);
    c->add_option("--layers", a->layers, "hidden layers (tap names, comma-separated; default: all)");
    c->add_option("--seed", a->perm_seed, "seed of the permutations")->capture_default_str();
    c->callback([a] {
      run_attack(*a, false, [a](Model& m, const Dataset*, const Normalization&, nlohmann::json& j) {
        j["params"] = {{"layers", a->layers.empty() ? "all" : a->layers}, {"seed", a->perm_seed}};
        const PermuteReport rep = permute_units(m, split_list(a->layers), a->perm_seed);
        j["permuted"] = rep.taps;
        j["summary"] = fmt::format("permuted the units of {}", fmt::join(rep.taps, ", "));
      });
    });
  }
  {  // overwrite
    auto a = make_args("overwrite");
    a->cfg.epochs = 5;
    auto* c = add_attack(attack, "overwrite", "Embed the attacker's own DeepSigns watermark over the owner's", a, true);
    c->add_option("--scheme", a->scheme, "deepsigns-hidden | deepsigns-output")->capture_default_str();
    c->add_option("--seed", a->attacker_seed, "the attacker's seed (its keys and data order)")->capture_default_str();
    c->add_option("--layer", a->layer, "deepsigns-hidden: the layer to mark (default: the second-to-last)");
    c->add_option("--bits", a->wm_bits, "deepsigns-hidden: signature bits")->capture_default_str();
    c->add_option("--lambda1", a->lambda1, "deepsigns-hidden: weight of loss1 (cifar10-cnn needs 0.1)")
        ->capture_default_str();
    c->add_option("--lambda2", a->lambda2, "deepsigns-hidden: weight of loss2 (cifar10-cnn needs 0.1)")
        ->capture_default_str();
    c->add_option("--keys", a->wm_keys, "deepsigns-output: key length K")->capture_default_str();
    c->add_option("--candidates", a->candidates, "deepsigns-output: candidate keys K' (default 20 K)");
    c->add_option("--key-search", a->key_search, "deepsigns-output: density | random")->capture_default_str();
    c->add_option("--epochs", a->cfg.epochs, "epochs (deepsigns-output: the fine-tuning epoch limit)")
        ->capture_default_str();
    c->add_option("--keys-out", a->keys_out, "where to write the attacker's keys (optional)");
    c->callback([a] {
      SIGNET_CHECK(a->scheme == "deepsigns-hidden" || a->scheme == "deepsigns-output",
                   "unknown --scheme '{}' (available: deepsigns-hidden, deepsigns-output)", a->scheme);
      SIGNET_CHECK(a->keys_out.empty() || (a->keys_out != a->out && a->keys_out != a->weights),
                   "--keys-out must differ from --weights and --out");
      if (a->scheme == "deepsigns-hidden") {
        SIGNET_CHECK(a->wm_bits >= 1, "--bits must be at least 1, got {}", a->wm_bits);
        SIGNET_CHECK(a->lambda1 >= 0 && a->lambda2 >= 0 && std::isfinite(a->lambda1) && std::isfinite(a->lambda2),
                     "--lambda1 and --lambda2 must be finite and >= 0, got {} and {}", a->lambda1, a->lambda2);
      }
      else
        SIGNET_CHECK(a->wm_keys >= 1, "--keys must be at least 1, got {}", a->wm_keys);
      a->cfg.seed = a->attacker_seed;
      run_attack(*a, true, [a](Model& m, const Dataset* train, const Normalization& norm, nlohmann::json& j) {
        j["params"] = {{"scheme", a->scheme}, {"seed", a->attacker_seed}, {"train", train_params(a->cfg)}};
        if (a->scheme == "deepsigns-hidden") {
          HiddenConfig hc;
          hc.layer = a->layer.empty() ? penultimate_layer(m) : a->layer;
          hc.bits = a->wm_bits;
          hc.lambda1 = a->lambda1;
          hc.lambda2 = a->lambda2;
          hc.seed = a->attacker_seed;
          HiddenKeys keys = overwrite_attack(m, *train, norm, hc, a->cfg);
          const HiddenEvidence ev = extract_hidden(m, keys);
          j["params"]["layer"] = hc.layer;
          j["params"]["bits"] = hc.bits;
          j["params"]["lambda1"] = hc.lambda1;
          j["params"]["lambda2"] = hc.lambda2;
          j["attacker_ber"] = ev.ber;
          j["attacker_p_value"] = ev.p_value;
          j["summary"] = fmt::format("the attacker's {}-bit mark in {}: BER {:.4f}, p-value {:.3g}", ev.total,
                                     hc.layer, ev.ber, ev.p_value);
          if (!a->keys_out.empty())
            a->after_save = [path = a->keys_out, keys](nlohmann::json& out) {
              out["attacker_keys_sha256"] = save_hidden_keys(path, keys);
            };
        } else {
          OutputConfig oc;
          oc.keys = a->wm_keys;
          oc.candidates = a->candidates;
          oc.key_search = a->key_search;
          oc.seed = a->attacker_seed;
          if (!a->layer.empty()) oc.layer = a->layer;
          OutputKeys keys = overwrite_output_attack(m, *train, norm, oc, a->cfg);
          LocalModelOracle self(m, norm, "attacked");
          const OutputEvidence ev = verify_output(self, keys);
          j["params"]["keys"] = oc.keys;
          j["params"]["key_search"] = oc.key_search;
          j["attacker_mismatches"] = ev.mismatches;
          j["attacker_theta"] = ev.theta;
          j["attacker_detected"] = ev.detected;
          j["summary"] = fmt::format("the attacker's {} keys: {} mismatches (theta {}), {}", ev.keys, ev.mismatches,
                                     ev.theta, ev.detected ? "detected" : "not detected");
          if (!a->keys_out.empty())
            a->after_save = [path = a->keys_out, keys](nlohmann::json& out) {
              out["attacker_keys_sha256"] = save_output_keys(path, keys);
            };
        }
        if (!a->keys_out.empty()) j["attacker_keys"] = a->keys_out;
      });
    });
  }
}

}  // namespace signet::cli
