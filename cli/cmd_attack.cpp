// signet attack <name>: removal attacks on a (stolen) model file, written to a new model file.
// The attacks are those of watermark/attacks/attacks.h; none of them sees the owner's keys.
//   finetune   plain cross-entropy on the training data at a small constant learning rate
//   prune      magnitude pruning of --fraction of every Linear/Conv2d weight tensor, then
//              (--finetune-epochs > 0) sparse fine-tuning that keeps the pruned weights at zero
//   quantize   every Linear/Conv2d weight tensor to 2^--bits levels between its min and max
//   permute    reorders the units of hidden layers (--layers, default all) and the next layer's
//              inputs: the same function, a scrambled unit order
//   distill    model extraction: a fresh model (--student) trained on the stolen model's labels
//              or scores (--answers) for the thief's own inputs, within a query budget
//   overwrite  the attacker embeds its own mark of a registered scheme (--scheme, with that
//              scheme's options as flags)
// Flags are checked before any data is read; a failed attack writes no file.
#include <chrono>
#include <cmath>
#include <functional>
#include <memory>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/scheme_flags.h"
#include "watermark/attacks/attacks.h"

namespace signet::cli {

namespace {
struct AttackArgs {
  std::string name, weights, out, model, dataset = "fashion-mnist", data_dir;
  CLI::Option* dataset_opt = nullptr;
  ModelFileFlags file;
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
  std::string scheme = all_schemes().front()->info().name, keys_out;
  SchemeFlags flags;
  uint64_t attacker_seed = 2;
  // distill
  std::string student, answers = "labels", thief_dataset;
  int64_t queries = 0;
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
  add_model_file_flags(c, a->file);
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
  check_epochs(a.cfg.epochs);
  check_output_paths({{"--weights", a.weights}}, {{"--out", a.out}, {"--keys-out", a.keys_out}});
  a.cfg.progress = !a.quiet;
  const bool evaluate = trains || a.dataset_opt->count() > 0;
  Dataset train, test;
  if (trains) train = load_split(a.dataset, "train", a.data_dir);
  if (evaluate) test = load_split(a.dataset, "test", a.data_dir);
  // The data set's input shape is what a PyTorch state dict (no Signet metadata) is read with.
  const Shape data_shape = evaluate ? example_shape(test) : Shape{};
  Normalization norm;
  bool plain = false;
  Model model = load_model(a.weights, model_hints(a.model, a.file, data_shape, "the data set '" + a.dataset + "'"),
                           &norm, &plain);
  // A PyTorch state dict records no normalisation: none unless --input-mean / --input-std.
  if (norm.mean.empty() && model.config.input_shape.size() == 3 && (trains || plain))
    norm = plain ? identity_normalization(model.config.input_shape[0]) : normalization_of(train);
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
  auto* attack = app.add_subcommand("attack", "Removal attacks on a model: finetune, prune, quantize, permute, distill, overwrite");
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
      check_epochs(a->finetune_epochs, "--finetune-epochs");
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
  {  // distill
    auto a = make_args("distill");
    a->cfg.epochs = 10;
    a->cfg.lr = 0.05f;
    auto* c = add_attack(attack, "distill",
                         "Model extraction: train a fresh model on the stolen model's answers to the thief's inputs", a,
                         true);
    c->add_option("--student", a->student, "the thief's architecture (default: the stolen model's)");
    c->add_option("--answers", a->answers, "what the stolen service answers: labels | scores")->capture_default_str();
    c->add_option("--queries", a->queries, "inputs the thief may query (0: all of its data)")->capture_default_str();
    c->add_option("--thief-dataset", a->thief_dataset,
                  "the thief's own inputs: this data set's training split (default: --dataset's; its labels are "
                  "not used)");
    c->add_option("--epochs", a->cfg.epochs, "training epochs of the student (constant learning rate)")
        ->capture_default_str();
    c->add_option("--seed", a->cfg.seed, "seed of the student's initialisation, the queried inputs and the order")
        ->capture_default_str();
    c->callback([a] {
      SIGNET_CHECK(a->answers == "labels" || a->answers == "scores", "--answers must be labels or scores, got '{}'",
                   a->answers);
      SIGNET_CHECK(a->queries >= 0, "--queries must be >= 0 (0: all of the thief's data), got {}", a->queries);
      SIGNET_CHECK(a->cfg.epochs >= 1, "--epochs must be at least 1, got {}", a->cfg.epochs);
      if (!a->student.empty()) require_model_name(a->student);
      run_attack(*a, true, [a](Model& m, const Dataset* train, const Normalization& norm, nlohmann::json& j) {
        const Dataset thief = a->thief_dataset.empty() ? *train : load_split(a->thief_dataset, "train", a->data_dir);
        const Shape in(thief.images.shape().begin() + 1, thief.images.shape().end());
        SIGNET_CHECK(in == m.config.input_shape, "--thief-dataset {} has inputs {}, the stolen model takes {}",
                     a->thief_dataset, shape_str(in), shape_str(m.config.input_shape));
        const std::string arch = a->student.empty() ? m.name : a->student;
        Rng init(a->cfg.seed);
        Model student = build_model(arch, m.config, init);
        LocalModelOracle teacher(std::move(m), norm, "stolen model");
        DistillConfig dc;
        dc.answers = a->answers;
        dc.queries = a->queries;
        dc.train = a->cfg;
        const DistillReport rep = distill_attack(teacher, student, thief, norm, dc);
        m = std::move(student);
        j["params"] = {{"student", arch}, {"answers", a->answers}, {"queries_limit", a->queries},
                       {"thief_dataset", a->thief_dataset.empty() ? a->dataset : a->thief_dataset},
                       {"train", train_params(a->cfg)}};
        j["queries"] = rep.queries;
        j["agreement"] = rep.agreement;
        j["epoch_loss"] = rep.train.epoch_loss;
        j["summary"] = fmt::format("a fresh {} trained on {} {} answers: it agrees with the stolen model on {:.1f}% "
                                   "of them",
                                   arch, rep.queries, a->answers, 100 * rep.agreement);
      });
    });
  }
  {  // overwrite
    auto a = make_args("overwrite");
    a->cfg.epochs = 5;
    auto* c = add_attack(attack, "overwrite", "Embed the attacker's own watermark (same scheme) over the owner's", a,
                         true);
    c->add_option("--scheme", a->scheme, "the attacker's scheme: " + scheme_names())->capture_default_str();
    c->add_option("--seed", a->attacker_seed, "the attacker's seed (its keys and data order)")->capture_default_str();
    a->flags.add_to(c);
    c->add_option("--epochs", a->cfg.epochs, "epochs (schemes that fine-tune: the epoch limit)")->capture_default_str();
    c->add_option("--keys-out", a->keys_out, "where to write the attacker's keys (optional)");
    c->callback([a] {
      const Scheme& scheme = scheme_from_flag(a->scheme);
      const SchemeParams params = a->flags.params_for(scheme);
      scheme.check(params);
      SIGNET_CHECK(scheme.key_sets(params) == 1, "the overwriting attacker marks one key set (one --layer)");
      a->cfg.seed = a->attacker_seed;
      run_attack(*a, true, [a, &scheme, params](Model& m, const Dataset* train, const Normalization& norm,
                                                nlohmann::json& j) {
        j["params"] = {{"scheme", scheme.info().name}, {"seed", a->attacker_seed}, {"train", train_params(a->cfg)}};
        for (const auto& [k, v] : params.values()) j["params"][k] = v;
        // The attacker's keys are reproducible from its seed: an experiment, not an owner.
        KeyRandomness kr;
        kr.key_seed = a->attacker_seed;
        kr.domain = "attacker";
        TrainConfig cfg = a->cfg;
        cfg.progress = !a->quiet;
        EmbedJob job{std::move(m), norm, true, train, nullptr, cfg, params, kr, nullptr};
        Embedded e = scheme.embed(std::move(job));
        m = std::move(e.model);
        const Evidence ev = scheme.extract(m, norm, *e.keys[0], scheme.default_alpha(*e.keys[0]));
        for (const auto& [k, v] : ev.details.items()) j["attacker_" + k] = v;
        j["attacker_p_value"] = ev.p_value;
        j["attacker_claimed"] = ev.claimed;
        j["summary"] = fmt::format("the attacker's mark ({}): {}, p-value {:.3g}", e.keys[0]->summary(), ev.text,
                                   ev.p_value);
        if (!a->keys_out.empty()) {
          a->after_save = [path = a->keys_out, keys = e.keys[0]](nlohmann::json& out) {
            out["attacker_keys_sha256"] = save_keys(path, *keys);
          };
          j["attacker_keys"] = a->keys_out;
        }
      });
    });
  }
}

}  // namespace signet::cli
