// Model files and checkpoints, both safetensors.
//
// A model file holds the parameters and buffers under their PyTorch names (fc1.weight, ...),
// so `torch.nn.Module.load_state_dict` takes it unchanged, plus metadata that lets Signet
// rebuild the model and its input normalisation:
//   signet.model, signet.num_classes, signet.input_shape ("1,28,28"),
//   signet.input_mean / signet.input_std (per channel, comma separated), signet.format = "model".
//   Token models (imdb-lstm) add signet.vocab_size.
// A checkpoint adds the optimizer state ("optim.<kind>.<param>"), the RNG state, and the
// epoch to resume at (signet.format = "checkpoint"); model tensors are then "model.<name>".
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "datasets/dataset.h"
#include "engine/rng.h"
#include "engine/serialize/safetensors.h"
#include "layers/optim.h"
#include "models/model_recognition.h"
#include "models/registry.h"

namespace signet {

struct Normalization {
  std::vector<float> mean, stddev;  // per channel; empty = none
};

// Per-channel mean/std of a training set's images: the normalisation saved with every model
// (none for token data sets).
Normalization normalization_of(const Dataset& train_set);
// Mean 0, std 1 per channel: "no normalisation" where an empty one would mean "not known".
Normalization identity_normalization(int64_t channels);
// (x - mean[c]) / std[c] per channel of raw inputs [N, C, ...]; x itself when norm is empty.
Tensor normalise_inputs(const Tensor& x, const Normalization& norm);

struct ModelFileInfo {
  std::string model;  // empty when the file has no Signet metadata (e.g. written by PyTorch)
  ModelConfig config;
  Normalization norm;
};

std::string join_floats(const std::vector<float>& v);
std::vector<float> split_floats(const std::string& s, const std::string& what);
std::string join_shape(const Shape& s);
// "1,28,28" -> {1, 28, 28}: an input shape (from a flag or a file's metadata). Error naming
// `what` unless every size is a positive integer and their product is at most
// kMaxSampleElements (engine/tensor.h).
Shape split_shape(const std::string& s, const std::string& what);
// "10" -> 10: a positive integer size (classes, vocabulary); Error naming `what` otherwise.
int64_t parse_size(const std::string& s, const std::string& what);

void save_model(const std::string& path, const Model& model, const Normalization& norm,
                const std::map<std::string, std::string>& extra_metadata = {});
ModelFileInfo read_model_info(const NamedTensors& file, const std::string& path);

// What a command knows about the model besides the file, for files without Signet metadata.
struct ModelHints {
  std::string model;            // --model: the architecture (checked against the metadata when present)
  InputShapeHints input_shape;  // --input-shape, and a data set's / input tensor's / keys' input shape
  Normalization norm;           // --input-mean / --input-std (empty: none given)
};
// Builds the model named in the file, loads its weights, and checks the hints against the
// metadata. Files without Signet metadata (a plain PyTorch state dict) are built as hints.model,
// else as the architecture their tensors say, with the classes and vocabulary the weights imply
// and the input shape from the hints or the weights (models/model_recognition.h); they have no
// normalisation but hints.norm. Returns the normalisation in norm_out, and in plain_out whether
// the file had no Signet metadata (callers that would guess a normalisation for files that
// record none must not guess for those), and in sha256_out the SHA-256 of the bytes it loaded
// (evidence names exactly the model it was read from, with the file read once).
Model load_model(const std::string& path, const ModelHints& hints, Normalization* norm_out, bool* plain_out = nullptr,
                 std::string* sha256_out = nullptr);
// The same with hints {expect_model, {{}, fallback_config->input_shape}}.
Model load_model(const std::string& path, const std::string& expect_model, Normalization* norm_out,
                 const ModelConfig* fallback_config = nullptr);

// The most epochs any command accepts (and a checkpoint may record): far beyond any run this
// engine can finish, so a larger value is a typo or an overflow (the parser clamps
// 99999999999999999999 to INT64_MAX), not a plan.
constexpr int64_t kMaxEpochs = 100000;

struct CheckpointState {
  int64_t next_epoch = 0;  // the epoch to run next
  int64_t global_step = 0;
  uint64_t seed = 0;
  std::array<uint64_t, 4> rng_state{};
  std::map<std::string, std::string> metadata;  // everything else in the header
};

void save_checkpoint(const std::string& path, const Model& model, const Optimizer& opt,
                     const Normalization& norm, const CheckpointState& st);
// Restores model weights and optimizer state in place; returns the saved state.
CheckpointState load_checkpoint(const std::string& path, Model& model, Optimizer& opt);

}  // namespace signet
