#include "models/recipes.h"

#include <algorithm>
#include <cstring>

#include "datasets/augment.h"

namespace signet {

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

Dataset shape_images(const Dataset& ds, int64_t pad_to, int64_t channels) {
  if (pad_to == 0 && channels == 0) return ds;
  SIGNET_CHECK(!ds.is_tokens(), "--pad-to and --channels apply to images, but '{}' holds token sequences",
               ds.name);
  SIGNET_CHECK(pad_to >= 0 && channels >= 0, "--pad-to and --channels must be >= 0");
  const int64_t h = pad_to ? pad_to : ds.images.size(2), w = pad_to ? pad_to : ds.images.size(3);
  checked_numel({channels ? channels : ds.images.size(1), h, w},
                pad_to ? fmt::format("--pad-to {}", pad_to) : fmt::format("--channels {}", channels), kMaxSampleElements);
  return pad_images(ds, h, w, channels);
}

RecipeData load_recipe_data(const TrainRecipe& r) {
  RecipeData d;
  d.train = shape_images(random_subset(load_dataset(r.dataset, "train", r.data_dir), r.train_limit, r.cfg.seed,
                                       "--train-limit"),
                         r.pad_to, r.channels);
  d.test = shape_images(random_subset(load_dataset(r.dataset, "test", r.data_dir), r.test_limit, r.cfg.seed + 1,
                                      "--test-limit"),
                        r.pad_to, r.channels);
  SIGNET_CHECK(!r.cfg.augment || !d.train.is_tokens(),
               "--augment (random crop + flip) applies to images, but '{}' holds token sequences", r.dataset);
  return d;
}

Model build_recipe_model(const TrainRecipe& r, const Dataset& train) {
  const ModelConfig mc = config_for_dataset(train, r.dropout);
  Rng init(r.cfg.seed);
  return build_model(r.model, mc, init);
}

int64_t default_warmup_steps(const std::string& model) { return model == "cifar10-cnn" ? 100 : 0; }

TrainedModel train_recipe_model(const TrainRecipe& r, Model model, const RecipeData& data) {
  TrainedModel t{std::move(model), normalization_of(data.train), {}, {}};
  SIGNET_CHECK(r.warmup_steps >= -1, "--warmup-steps must be >= 0 (or -1: the model's default), got {}",
               r.warmup_steps);
  TrainConfig cfg = r.cfg;
  cfg.warmup_steps = r.warmup_steps >= 0 ? r.warmup_steps : default_warmup_steps(r.model);
  t.train = train_model(t.model, data.train, t.norm, cfg);
  t.test = evaluate_model(t.model, data.test, t.norm);
  return t;
}

std::map<std::string, std::string> recipe_metadata(const TrainRecipe& r) {
  return {{"signet.seed", std::to_string(r.cfg.seed)}, {"signet.dataset", r.dataset}};
}

nlohmann::json recipe_json(const TrainRecipe& r, const TrainedModel& t, const Dataset& train, const std::string& out,
                           int threads) {
  const TrainConfig& cfg = r.cfg;
  return {{"command", "train"}, {"model", r.model}, {"dataset", r.dataset}, {"epochs", cfg.epochs},
          {"batch_size", cfg.batch_size}, {"lr", cfg.lr}, {"optimizer", cfg.optimizer},
          {"schedule", cfg.schedule}, {"seed", cfg.seed}, {"device", cfg.device.str()},
          {"warmup_steps", r.warmup_steps >= 0 ? r.warmup_steps : default_warmup_steps(r.model)}, {"threads", threads},
          {"augment", cfg.augment}, {"pad_to", r.pad_to}, {"channels", r.channels}, {"train_limit", r.train_limit},
          {"test_limit", r.test_limit}, {"input_shape", t.model.config.input_shape}, {"train_size", train.size()},
          {"train_seconds", t.train.train_seconds}, {"steps", t.train.steps}, {"epoch_loss", t.train.epoch_loss},
          {"test_accuracy", t.test.accuracy}, {"test_loss", t.test.loss}, {"test_size", t.test.total}, {"out", out}};
}

}  // namespace signet
