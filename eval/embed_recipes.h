// The project's default watermark-embedding recipe, shared by `signet embed` and the evaluation
// runner, so that a marked model the runner makes is what
//     signet embed --scheme S --model M --dataset D --epochs E --seed N --key-seed K ...
// writes (same initialisation, learning rates, metadata and keys-file contents): from scratch (a
// model built with Rng(seed)) at the training rate, or fine-tuning a trained model at a tenth of
// it. The seed is the training's (initialisation, data order); keys come from the scheme's
// KeyRandomness (the OS CSPRNG, or a key seed for experiments), never from the seed.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "models/registry.h"
#include "watermark/scheme.h"

namespace signet {

constexpr double kHiddenScratchLr = 0.05;   // the training recipe's learning rate
constexpr double kFinetuneLr = 0.005;       // a tenth of it: fine-tuning a trained model

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

// Writes the marked model (the same metadata keys as `signet train`'s: seed and data set, nothing
// about the watermark) and each keys file, recording in the keys the marked model's SHA-256 and,
// when `from` is given, the unmarked model's. Returns each keys file's SHA-256; model_sha
// receives the model's.
std::vector<std::string> save_embedding(const std::string& out, const std::vector<std::string>& keys_outs,
                                        Embedded& e, uint64_t seed, const std::string& dataset,
                                        const std::string& from, std::string* model_sha = nullptr);

}  // namespace signet
