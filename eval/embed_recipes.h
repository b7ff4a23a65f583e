// The project's default watermark-embedding recipes, shared by `signet embed` and the evaluation
// runner, so that a marked model the runner makes is what
//     signet embed --scheme deepsigns-hidden --model M --dataset D --epochs E --seed S ...
//     signet embed --scheme deepsigns-output --from UNMARKED --keys K --seed S ...
// write (same initialisation, key streams, learning rates, metadata and keys-file contents).
//
// Hidden (Section 3.1): from scratch (a model built with Rng(seed)) at lr 0.05, or fine-tuning a
//   trained model at lr 0.005; keys drawn from Rng(seed ^ "keys") so the data order is the
//   unmarked run's; one key set per layer, all embedded in one training run.
// Output (Section 3.2): on a trained model; fine-tuning at lr 0.005, at most 30 epochs.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "watermark/deepsigns/hidden.h"
#include "watermark/deepsigns/output.h"

namespace signet {

constexpr double kHiddenScratchLr = 0.05;   // the training recipe's learning rate
constexpr double kFinetuneLr = 0.005;       // a tenth of it: fine-tuning a trained model
constexpr int64_t kOutputEpochLimit = 30;   // deepsigns-output fine-tuning epoch limit

// The learning rate and warm-up of an embedding run, in one place for `signet embed` and the
// experiment cache: from scratch it is `signet train`'s recipe (kHiddenScratchLr and the model's
// warm-up, default_warmup_steps), on a trained model fine-tuning (kFinetuneLr, no warm-up).
// lr > 0 overrides the rate.
struct EmbedSchedule {
  double lr;
  int64_t warmup_steps;
};
EmbedSchedule embed_schedule(const std::string& model, bool from_scratch, double lr = 0);

// The model `signet embed` trains from scratch: Rng(seed) initialisation, the data set's classes
// and input shape.
Model scratch_model_for_embedding(const std::string& name, const Dataset& train, uint64_t seed);

struct HiddenEmbedded {
  Model model;
  Normalization norm;
  std::vector<HiddenKeys> keys;  // one per layer
  TrainResult train;
  EvalResult test;
  double embed_seconds = 0;  // key generation + training with the mark (steady_clock; no evaluation)
};

// Generates one key set per entry of `layers` (wm.layer is ignored; wm.seed is set to
// cfg.seed) and trains `model` (fresh or trained) with all of them. `norm` empty: the training
// set's. cfg.lr and cfg.warmup_steps must be resolved by the caller (embed_schedule).
// on_keys (optional) is called after each key set is generated (the CLI's log line).
HiddenEmbedded embed_hidden_recipe(Model model, Normalization norm, const Dataset& train, const Dataset& test,
                                   HiddenConfig wm, const std::vector<std::string>& layers, const TrainConfig& cfg,
                                   const std::function<void(const HiddenKeys&)>& on_keys = nullptr);
// Writes the marked model (metadata: seed, dataset) and each keys file (with the model's
// SHA-256 in its metadata). Returns the model's SHA-256; keys_sha receives each keys file's.
std::string save_hidden_embedding(const std::string& out, const std::vector<std::string>& keys_outs,
                                  HiddenEmbedded& e, uint64_t seed, const std::string& dataset,
                                  std::vector<std::string>* keys_sha);

struct OutputEmbedded {
  Model model;  // the marked model
  Normalization norm;
  OutputKeys keys;
  OutputEmbedReport report;
  EvalResult before, after;  // test accuracy of the unmarked and the marked model
  OutputEvidence self;       // the marked model verified with its own keys
  double embed_seconds = 0;  // embed_output: key search, fine-tuning, key selection (steady_clock)
};

// Algorithm 2 on the trained `model` (oc.seed and the fine-tuning data order are cfg.seed).
OutputEmbedded embed_output_recipe(Model model, Normalization norm, const Dataset& train, const Dataset& test,
                                   OutputConfig oc, const TrainConfig& cfg);
// Writes the marked model (metadata: seed, dataset, watermark) and the keys (with the SHA-256 of
// the unmarked file `from` and of the marked file). Returns the keys file's SHA-256.
std::string save_output_embedding(const std::string& out, const std::string& keys_out, const std::string& from,
                                  OutputEmbedded& e, uint64_t seed, const std::string& dataset);

}  // namespace signet
