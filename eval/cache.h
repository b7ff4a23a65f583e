// The model cache shared by every config (default runs/cache, `--cache DIR`).
//
// Unmarked models: <cache>/<model>-e<E>-s<S>.safetensors plus <model>-e<E>-s<S>.json (what
//   `signet train --json` prints: test_accuracy, train_seconds, ...). Exactly the file
//   `signet train --model M --dataset fashion-mnist --epochs E --seed S` writes (models/recipes.h),
//   so models pre-trained by hand are used as they are. Data sets other than fashion-mnist get
//   their own subdirectory <cache>/<dataset>/ (the spec with ':' and '/' replaced by '_'), and so
//   does shaped data (data_tag(): e.g. fashion-mnist-pad32-train5000 for `--pad-to 32
//   --train-limit 5000`; the subsets are drawn with seed 1 for every model seed) and data read
//   from a data_dir (the tag holds a hash of the path as given).
// Marked models: <cache>/[<dataset>/]marked/<name>.{safetensors,wmk,json}; the name holds the
//   model, the variant, the recipe and a hash of every scheme option, so configs that agree share
//   them (marked_name()). Keys come from the key seed = the cell's seed in the domain
//   (scheme, model, layer, options): reproducible, and no two key sets of a grid coincide.
// A missing entry is made with the default recipes (eval/embed_recipes.h) and written
// atomically (model, then keys, then the .json that marks the entry complete).
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "eval/grid.h"
#include "models/recipes.h"
#include "watermark/scheme.h"

namespace signet::eval {

// Test accuracy during training, after `seconds` of training (evaluation time left out).
struct AccuracyProbe {
  double seconds = 0, accuracy = 0;
};

struct BaseModel {
  Model model;
  Normalization norm;
  double accuracy = 0, train_seconds = -1;  // train_seconds < 0: unknown (file without .json)
  std::string path;
  std::vector<AccuracyProbe> curve;  // trained now with probes only
};

struct MarkedModel {
  Model model;
  Normalization norm;
  const Scheme* scheme = nullptr;
  std::shared_ptr<SchemeKeys> keys;
  double accuracy = 0, unmarked_accuracy = 0, embed_seconds = 0;
  double train_seconds = -1;  // the training part of embed_seconds (< 0: unknown)
  double probe_seconds = 0;   // the accuracy probes' part of embed_seconds (evaluation, not embedding)
  int64_t epochs_trained = 0;  // fine-tuning epochs the embedding took (its report's; 0: unknown)
  std::string path, keys_path;
  std::vector<AccuracyProbe> curve;  // embedded now with probes only; seconds of training
};

// How a watermark variant is embedded, with the recipe's defaults resolved.
struct EmbedPlan {
  std::string layer;          // the marked tap (the scheme's layer())
  bool from_base = false;     // fine-tune the unmarked model (always for schemes that cannot train with it)
  int64_t epochs = 0;         // training / fine-tuning epochs (or the scheme's limit)
  double lr = 0;
  int64_t warmup_steps = 0;   // embed_schedule's
  uint64_t base_seed = 0;     // the unmarked model (for from_base and unmarked_accuracy)
};
EmbedPlan embed_plan(const ModelSpec& m, const Variant& v, uint64_t seed);

// "<model>-e<E>-s<S>"; a recipe other than SGD at 0.05 adds "-<optimizer>-lr<lr>" after the model.
std::string base_name(const ModelSpec& m, uint64_t seed);

// The data a config's cells use: its data set with `signet train`'s shaping flags; cfg.seed (1)
// seeds the subsets. load_recipe_data(config_data(c)) loads it.
TrainRecipe config_data(const Config& c);
// The cache subdirectory's name for that data ("fashion-mnist" for the plain package data).
std::string data_tag(const TrainRecipe& data);
std::string marked_name(const ModelSpec& m, const Variant& v, uint64_t seed);

class ModelCache {
 public:
  // `data`: the splits `data_recipe` loads (config_data()), shaped and subset.
  ModelCache(std::string dir, TrainRecipe data_recipe, const RecipeData& data);

  std::string dir() const { return dir_; }
  std::string base_path(const ModelSpec& m, uint64_t seed) const;
  std::string marked_path(const ModelSpec& m, const Variant& v, uint64_t seed) const;  // .safetensors
  bool has_base(const ModelSpec& m, uint64_t seed) const;
  bool has_marked(const ModelSpec& m, const Variant& v, uint64_t seed) const;

  // Loads or trains (and caches) the unmarked model. Kept in memory for this run.
  const BaseModel& base(const ModelSpec& m, uint64_t seed);
  // Trains the unmarked model now (timed), caching it when absent (overhead). probes_per_epoch > 0:
  // the test accuracy is measured that many times an epoch into BaseModel::curve.
  BaseModel train_base(const ModelSpec& m, uint64_t seed, int64_t probes_per_epoch = 0);
  // Loads or embeds (and caches) the marked model. `fresh`: embed even when cached (overhead;
  // the cache is written only when absent). `base` (optional): the unmarked model to start from.
  // probes_per_epoch > 0 (with fresh): MarkedModel::curve as for train_base.
  MarkedModel marked(const ModelSpec& m, const Variant& v, uint64_t seed, bool fresh = false,
                     const BaseModel* base = nullptr, int64_t probes_per_epoch = 0);

 private:
  MarkedModel embed(const ModelSpec& m, const Variant& v, uint64_t seed, const BaseModel& base,
                    int64_t probes_per_epoch);
  // A TrainConfig probe appending the test accuracy (inputs normalised with norm) to curve.
  std::function<void(Model&, double)> accuracy_probe(const Normalization& norm, std::vector<AccuracyProbe>& curve) const;
  MarkedModel load_marked(const ModelSpec& m, const Variant& v, uint64_t seed);

  std::string dir_;
  TrainRecipe data_recipe_;
  const RecipeData& data_;
  std::map<std::string, BaseModel> bases_;
};

}  // namespace signet::eval
