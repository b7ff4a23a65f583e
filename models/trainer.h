// The training loop shared by `signet train` and by watermark embedding (which adds its own
// loss terms through `extra_loss` on the activations it taps).
//
// One step: forward (recording the requested taps), the model's loss (model_loss: cross-entropy,
// or binary cross-entropy for one-logit models such as imdb-lstm) + extra loss, backward,
// optimizer step, learning rate from the schedule. The data order of epoch e is a function of
// (seed, e) only, the model's RNG (dropout) is seeded from the seed, and the checkpoint saves
// the RNG and optimizer state, so a run stopped after any epoch resumes to the same weights.
// A NaN or infinite loss stops training with an Error that says where and suggests a fix.
// Under a distributed launch (dist::world().size() > 1) every rank calls this with the same
// config; rank 0 alone writes checkpoints and shows progress.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "datasets/dataloader.h"
#include "engine/error.h"
#include "models/model_io.h"

namespace signet {

// Error naming `flag` unless 0 <= epochs <= kMaxEpochs (models/model_io.h).
void check_epochs(int64_t epochs, const std::string& flag = "--epochs");

// Training whose loss became NaN or infinite: an outcome of the recipe (rate, loss weights), which
// an experiment grid reports as a result rather than a fault of its input.
struct TrainingDiverged : Error {
  using Error::Error;
};

struct TrainConfig {
  int64_t epochs = 5;
  int64_t batch_size = 128;
  std::string optimizer = "sgd";
  float lr = 0.05f, momentum = 0.9f, weight_decay = 5e-4f;
  bool nesterov = false;
  std::string schedule = "cosine";
  int64_t warmup_steps = 0;         // linear learning-rate warm-up over the first steps (0: none)
  uint64_t seed = 1;
  bool progress = true;             // progress bar on stderr
  std::string checkpoint_path;      // written after every epoch when set
  std::string resume_path;          // resume from this checkpoint when set
  int64_t stop_after_epochs = -1;   // for tests: stop (as if killed) after this many epochs
  bool augment = false;             // image sets: random crop (pad 4) + horizontal flip (DataLoader)
  // Train with every layer as at inference: BatchNorm normalises with its running statistics and
  // leaves them as they are, dropout is off. For fine-tuning a trained model whose loss terms read
  // the model in inference mode (a verifier's view), so training and verification see one function.
  bool inference_mode_layers = false;
  // Where the steps run: the model is moved there for training and back to the CPU after it,
  // each batch is copied there. A GPU needs every op of the model to have a CUDA path.
  Device device = Device::cpu();
  // Data parallelism (engine/dist/): when this process is one of P ranks, each step runs on this
  // rank's shard of the batch and gradients are averaged (models/data_parallel.h). sync_bn
  // averages BatchNorm running statistics over the ranks after every step (else each rank keeps
  // its own and rank 0's are saved); the batch statistics a step normalises with stay per rank.
  bool sync_bn = false;
  // State that each rank updates from its own shard and that must stay equal on all ranks
  // (averaged after every step), e.g. a watermark's tracked class centres.
  std::vector<Tensor> rank_averaged_state;
  std::vector<std::string> taps;    // activations handed to extra_loss
  NamedTensorList extra_params;     // trained with the model (e.g. watermark centres), not saved in it
  // Extra loss term (watermark regularizers); undefined tensor = none.
  std::function<Tensor(const Batch&, const Tensor& logits, const Taps& taps)> extra_loss;
  // Called after every optimizer step (e.g. the pruning attack re-applies its masks here, so
  // fine-tuning keeps the pruned weights at zero).
  std::function<void()> after_step;
  // Called `probes_per_epoch` times an epoch, at evenly spaced steps (the last after the epoch's
  // last step), with the model and the training seconds so far. The probe's own time is left out
  // of those seconds and of train_seconds, so a time-to-accuracy measurement can evaluate the
  // model here without paying for it. The model is back in training mode after each call.
  std::function<void(Model& model, double train_seconds)> probe;
  int64_t probes_per_epoch = 0;
};

struct TrainResult {
  double train_seconds = 0;
  int64_t steps = 0;
  int64_t epochs_run = 0;
  std::vector<float> epoch_loss;  // mean training loss of each epoch run
  std::vector<float> step_loss;   // the loss of every step (over the whole batch, on every rank)
};

struct EvalResult {
  double accuracy = 0, loss = 0;
  int64_t correct = 0, total = 0;
};

// The training loss of `model` on a batch, by Model::loss:
//   "cross_entropy": cross_entropy(logits [N, C], y int64 [N]);
//   "bce": bce_with_logits(logits [N, 1] viewed as [N], y as float), labels must be 0 or 1.
Tensor model_loss(const Model& model, const Tensor& logits, const Tensor& y);
// Correct predictions in a batch: argmax == y, or for "bce" (logit > 0) == (y == 1).
int64_t count_correct(const Model& model, const Tensor& logits, const Tensor& y);
// The ModelConfig a data set asks for: its classes, per-sample input shape ([C, H, W] or {L})
// and vocabulary size (token sets), and the given dropout.
ModelConfig config_for_dataset(const Dataset& train_set, float dropout = 0.0f);

TrainResult train_model(Model& model, const Dataset& train_set, const Normalization& norm,
                        const TrainConfig& cfg);
EvalResult evaluate_model(Model& model, const Dataset& set, const Normalization& norm,
                          int64_t batch_size = 500);
// Logits (or the named tap's activation) of a normalised batch, in eval mode.
Tensor predict(Model& model, const Tensor& x, const std::string& layer = "");

}  // namespace signet
