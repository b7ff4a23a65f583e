// Removal attacks on a watermarked model (DeepSigns Section 4.2; the robustness SoK's list in
// shared/papers/schemes.md). An attack never sees the owner's keys: it gets the model and, where
// a thief would have it, the training data. Each attack changes `model` in place (copy the
// Model first to keep the original: clone_model) and returns what it did, so tests and reports
// can check it did what it says. Oracle-side attacks (input noise, score rounding, score
// perturbation) are Oracle wrappers in watermark/attacks/oracle_attacks.h.
//
// Success criterion (robustness SoK): the attacked model stays within 5 accuracy points of the
// original AND the watermark falls below its detection threshold.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "datasets/dataset.h"
#include "models/model_io.h"
#include "models/registry.h"
#include "models/trainer.h"
#include "watermark/deepsigns/hidden.h"
#include "watermark/deepsigns/output.h"
#include "watermark/verify/oracle.h"

namespace signet {

// A deep copy of a model (parameters and buffers; same architecture and config).
Model clone_model(const Model& model);

// The weight tensors the weight attacks (pruning, quantization) touch: the `weight` of every
// Linear and Conv2d layer, by parameter name, in registration order. The tensors are the
// model's own (writing them changes the model); biases, BatchNorm and embeddings are not listed.
std::vector<std::pair<std::string, Tensor>> layer_weights(Model& model);

// --- Fine-tuning: the original training data, plain cross-entropy (no watermark loss), the
// final learning rate of the original schedule, cfg.epochs epochs. Returns train_model's result.
TrainResult finetune_attack(Model& model, const Dataset& train, const Normalization& norm, const TrainConfig& cfg);

// --- Magnitude pruning: in every weight tensor of a Linear or Conv2d layer (not biases, not
// BatchNorm), the `fraction` (in [0, 1]) of entries with the smallest |w| are set to zero
// (ties broken by index, so exactly round(fraction * numel) per tensor).
struct PruneMask {
  std::string param;   // parameter name, e.g. "fc1.weight"
  Tensor keep;         // float32, same shape, 1 = kept, 0 = pruned
  int64_t pruned = 0, total = 0;
};
struct PruneReport {
  std::vector<PruneMask> masks;
  int64_t pruned = 0, total = 0;  // over all pruned tensors
  double fraction() const { return total ? double(pruned) / double(total) : 0.0; }
};
PruneReport prune_magnitude(Model& model, double fraction);
// Sparse fine-tuning: train_model with cfg (plain loss, as finetune_attack), re-applying the
// masks before training and after every optimizer step so pruned weights stay exactly zero.
// (cfg.after_step is set here; a caller's own after_step still runs first.)
TrainResult sparse_finetune(Model& model, const PruneReport& masks, const Dataset& train, const Normalization& norm,
                            TrainConfig cfg);

// --- Weight quantization: each weight tensor of a Linear or Conv2d layer (biases and BatchNorm
// untouched) is mapped to 2^bits uniformly spaced levels between its own min and max (per
// layer), rounding to the nearest level. bits in [1, 16].
struct QuantizeReport {
  int64_t bits = 0, tensors = 0;
  double max_abs_error = 0;  // over all quantized entries
};
QuantizeReport quantize_weights(Model& model, int bits);

// --- Feature permutation: reorders the units (Linear outputs / Conv2d output channels) of hidden
// layers and the inputs of the layer that consumes them, so the function (the logits) is
// unchanged up to float rounding, while any watermark read unit-by-unit is scrambled.
// `taps`: which hidden activations to permute, by tap name (e.g. "relu2" for mnist-mlp,
// "classifier.2" or "features.1" for cifar10-cnn); empty = every hidden layer the model supports.
// Supported: mnist-mlp and cifar10-cnn, and any model that is a plain chain of Sequentials over
// Linear, Conv2d, ReLU, Dropout, pooling, BatchNorm and Flatten (BatchNorm parameters and running
// statistics move with their channels); an Error naming the model otherwise (residual blocks,
// LSTMs). A tap may be named by any layer of its group: "fc2" picks "relu2"; the report uses the
// group's first ReLU. Unknown taps: an Error listing the model's hidden layers.
struct PermuteReport {
  std::vector<std::string> taps;                // permuted, in order
  std::vector<std::vector<int64_t>> perms;      // perms[i][new_unit] = old_unit
};
PermuteReport permute_units(Model& model, const std::vector<std::string>& taps, uint64_t seed);

// --- Overwriting: the attacker embeds its own DeepSigns hidden-layer watermark (its own random
// keys and signature from key_rng, same layer and bit count as a typical owner — it knows the
// method, not the keys) by fine-tuning on the training data for cfg.epochs epochs.
// Returns the attacker's keys (so a report can show the attacker's mark is in too).
// (The CLI and the evaluation grid overwrite any scheme through Scheme::embed on the stolen
// model; these are the same for DeepSigns, kept for tests that drive the parts directly.)
HiddenKeys overwrite_attack(Model& model, const Dataset& train, const Normalization& norm, const HiddenConfig& attacker,
                            const TrainConfig& cfg, Rng& key_rng);
// The same against an output-layer mark (paper Table 4): the attacker embeds its own K keys
// with embed_output (density key search) on the stolen model. Returns its keys.
OutputKeys overwrite_output_attack(Model& model, const Dataset& train, const Normalization& norm,
                                   const OutputConfig& attacker, const TrainConfig& cfg, Rng& key_rng);

// --- Distillation (model extraction): the thief owns inputs (thief_data's images; its labels
// are not used) and can query the stolen model, as a service, for up to cfg.queries of them
// (0: all; a seeded random subset otherwise). It trains `student` (a fresh model of its choice)
// on the answers: labels (cross-entropy on the teacher's labels) or scores (soft-target
// cross-entropy on the teacher's class probabilities), plain SGD with cfg.train's optimizer,
// learning rate, batch size and epochs at a constant rate; cfg.train.seed picks the queried
// inputs and the batch order. norm: the student's input normalisation.
struct DistillConfig {
  std::string answers = "labels";  // labels | scores
  int64_t queries = 0;
  TrainConfig train;
};
struct DistillReport {
  int64_t queries = 0;    // inputs the stolen model answered
  double agreement = 0;   // share of the queried inputs where the student answers as the teacher
  TrainResult train;
};
DistillReport distill_attack(Oracle& teacher, Model& student, const Dataset& thief_data, const Normalization& norm,
                             const DistillConfig& cfg);

}  // namespace signet
