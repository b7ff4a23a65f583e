// signet finetune: continues training a saved model on a data set's training split with plain
// cross-entropy (no watermark loss): the fine-tuning attack of DeepSigns Section 4.2 / Table 3
// ("retrain the target model using the original training data ... at the final learning rate").
// The model file's own input normalisation is kept (a PyTorch state dict has none). Writes the fine-tuned model. The same attack
// as `signet attack finetune` (watermark/attacks/attacks.h, finetune_attack).
#include <memory>

#include "cli/commands.h"
#include "cli/common.h"
#include "models/trainer.h"
#include "watermark/attacks/attacks.h"

namespace signet::cli {

void register_finetune(CLI::App& app) {
  struct Args {
    std::string model, weights, dataset = "fashion-mnist", data_dir, out;
    ModelFileFlags file;
    TrainConfig cfg;
    int threads = 0;
    bool json = false, quiet = false;
  };
  auto a = std::make_shared<Args>();
  a->cfg.lr = 0.005f;
  a->cfg.schedule = "constant";
  a->cfg.epochs = 1;
  auto* c = app.add_subcommand("finetune", "Fine-tune a saved model on training data (the fine-tuning attack)");
  c->add_option("--weights", a->weights, "the model to fine-tune (.safetensors)")->required();
  c->add_option("--model", a->model, "model name (checked against the file)");
  c->add_option("--dataset", a->dataset, "data set")->capture_default_str();
  c->add_option("--data-dir", a->data_dir, "directory of the data set files");
  add_model_file_flags(c, a->file);
  c->add_option("--epochs", a->cfg.epochs, "epochs")->capture_default_str();
  c->add_option("--lr", a->cfg.lr, "learning rate")->capture_default_str();
  c->add_option("--batch-size", a->cfg.batch_size, "batch size")->capture_default_str();
  c->add_option("--optimizer", a->cfg.optimizer, "sgd | adam | adamw")->capture_default_str();
  c->add_option("--schedule", a->cfg.schedule, "constant | step | cosine")->capture_default_str();
  c->add_option("--seed", a->cfg.seed, "seed of the data order")->capture_default_str();
  c->add_option("--out", a->out, "where to write the fine-tuned model")->required();
  c->add_option("--threads", a->threads, "threads (0: all cores)");
  c->add_flag("--json", a->json, "print one JSON object on stdout");
  c->add_flag("--quiet", a->quiet, "no progress bar");
  c->callback([a] {
    set_threads(a->threads);
    check_epochs(a->cfg.epochs);
    check_output_paths({{"--weights", a->weights}}, {{"--out", a->out}});
    const Dataset train = load_split(a->dataset, "train", a->data_dir);
    const Dataset test = load_split(a->dataset, "test", a->data_dir);
    Normalization norm;
    bool plain = false;
    Model model = load_model(
        a->weights, model_hints(a->model, a->file, example_shape(train), "the data set '" + a->dataset + "'"), &norm,
        &plain);
    // A PyTorch state dict records no normalisation: none unless --input-mean / --input-std.
    if (norm.mean.empty() && !train.is_tokens())
      norm = plain ? identity_normalization(model.config.input_shape[0]) : normalization_of(train);
    const EvalResult before = evaluate_model(model, test, norm);
    TrainConfig cfg = a->cfg;
    cfg.progress = !a->quiet;
    const TrainResult r = finetune_attack(model, train, norm, cfg);
    const EvalResult after = evaluate_model(model, test, norm);
    save_model(a->out, model, norm, {{"signet.seed", std::to_string(cfg.seed)}, {"signet.dataset", a->dataset},
                                     {"signet.finetuned_from", a->weights}});
    if (a->json) {
      print_json({{"command", "finetune"}, {"model", model.name}, {"weights", a->weights}, {"dataset", a->dataset},
                  {"epochs", cfg.epochs}, {"lr", cfg.lr}, {"schedule", cfg.schedule}, {"seed", cfg.seed},
                  {"train_seconds", r.train_seconds}, {"test_accuracy_before", before.accuracy},
                  {"test_accuracy", after.accuracy}, {"out", a->out}});
    } else {
      std::printf("fine-tuned %s for %lld epochs at lr %g: test accuracy %.2f%% -> %.2f%%, written to %s\n",
                  a->weights.c_str(), static_cast<long long>(cfg.epochs), cfg.lr, 100 * before.accuracy,
                  100 * after.accuracy, a->out.c_str());
    }
  });
}

}  // namespace signet::cli
