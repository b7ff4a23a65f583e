// The project's default training recipe, shared by `signet train` and the evaluation runner
// (eval/), so that a model the runner trains is bit-identical to what
//     signet train --model M --dataset D --epochs E --seed S --out FILE
// writes (same data subset and padding, same initialisation, same data order, same metadata).
//
//   TrainRecipe r;  r.model = "mnist-mlp";  r.cfg.epochs = 5;  r.cfg.seed = 1;
//   const RecipeData data = load_recipe_data(r);          // train/test, subset and padding applied
//   Model m = build_recipe_model(r, data.train);           // Rng(seed) initialisation
//   TrainedModel t = train_recipe_model(r, std::move(m), data);  // train + test accuracy
//   save_model(path, t.model, t.norm, recipe_metadata(r));
//   nlohmann::json j = recipe_json(r, t, path);            // what `signet train --json` prints
#pragma once
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "models/trainer.h"

namespace signet {

struct TrainRecipe {
  std::string model = "mnist-mlp", dataset = "fashion-mnist", data_dir;
  TrainConfig cfg;  // the `signet train` defaults (SGD 0.9, wd 5e-4, lr 0.05 cosine, batch 128)
  float dropout = 0.0f;
  int64_t pad_to = 0, channels = 0, train_limit = 0, test_limit = 0;
  int64_t warmup_steps = -1;  // linear learning-rate warm-up; -1: default_warmup_steps(model)
};

// The recipe's learning-rate warm-up for a model trained from scratch at lr 0.05: 100 steps for
// cifar10-cnn (no normalisation layers: without it, seed 6 diverges to NaN at step 66-78 of the
// first epoch), 0 for the others (mnist-mlp trains stably; wrn/resnet have batch norm; imdb-lstm
// uses Adam). `signet embed` from scratch uses the same.
int64_t default_warmup_steps(const std::string& model);

struct RecipeData {
  Dataset train, test;
};

struct TrainedModel {
  Model model;
  Normalization norm;
  TrainResult train;
  EvalResult test;
};

// `limit` samples drawn without replacement by Rng(seed) (kept in data set order), so a small
// subset still holds every class; 0 or >= size: the whole set. `flag` names the option in errors.
Dataset random_subset(const Dataset& ds, int64_t limit, uint64_t seed, const char* flag);
// Zero-pad images to pad_to x pad_to (centred) and / or replicate grey into `channels` channels.
Dataset shape_images(const Dataset& ds, int64_t pad_to, int64_t channels);

// Loads the train and test splits with the recipe's subsets (seeded by cfg.seed and cfg.seed + 1)
// and image shaping.
RecipeData load_recipe_data(const TrainRecipe& r);
// The freshly initialised model (Rng(cfg.seed)), configured for the training set.
Model build_recipe_model(const TrainRecipe& r, const Dataset& train);
// Trains `model` with the recipe (normalisation of the training set) and measures test accuracy.
TrainedModel train_recipe_model(const TrainRecipe& r, Model model, const RecipeData& data);
// The metadata `signet train` stores in the model file.
std::map<std::string, std::string> recipe_metadata(const TrainRecipe& r);
// The JSON object `signet train --json` prints.
nlohmann::json recipe_json(const TrainRecipe& r, const TrainedModel& t, const Dataset& train,
                           const std::string& out, int threads);

}  // namespace signet
