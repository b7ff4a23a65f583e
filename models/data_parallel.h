// Data-parallel training: what the trainer does differently when P processes train one model
// (engine/dist/communicator.h carries the bytes).
//
// Each rank runs forward and backward on its shard of the global batch (datasets/dataloader.h),
// then reduce_gradients() turns every parameter's gradient into
//   g = sum over ranks r of (n_r / n) * g_r,
// n_r being rank r's samples of the step and n the global batch: the gradient of the mean loss
// over the global batch, so one optimizer step on every rank is the step one process with batch
// n takes (up to the order of float additions). Loss terms that do not depend on the batch
// (Uchida's weights term, GradSigns on its fixed key samples) sum to their full value because
// the weights sum to 1; terms on the batch's own samples (the DeepSigns hidden regularizer on its
// chosen classes) become the n_r-weighted mean of the ranks' terms, close to but not exactly the
// term on the whole batch.
//
// Parameters on a GPU (--device cuda) are exchanged there: each bucket is packed by the device's
// ops and summed by Communicator::allreduce_sum_device (NCCL when every rank has a GPU of its own,
// else through host memory); the small header travels on the host.
//
// Gradients travel in buckets (several parameters flattened into one buffer per allreduce call,
// filled in reverse registration order, the order backward produces them); the last bucket also
// carries each rank's weighted loss and which parameters have a gradient at all, so that a
// parameter no rank touched is left without one, as on one process.
//
// On CPUs the exchange overlaps the backward pass: the trainer runs backward through
// DataParallel::backward (run_backward_reporting, engine/autograd_ready.h, handing each finished
// leaf to gradient_final); a bucket's nonblocking allreduce starts as soon as all its parameters are
// final and the buckets before it have started (every rank starts them in the same order).
// reduce_gradients then starts what is left and waits. A plain backward followed by
// reduce_gradients gives the same numbers, with no overlap.
#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/dist/communicator.h"
#include "engine/tensor.h"
#include "layers/module.h"

namespace signet {

class DataParallel {
 public:
  // params: what the optimizer trains; state: tensors each rank updates on its own that must
  // stay equal (averaged after every step: tracked watermark centres, BatchNorm running
  // statistics with --sync-bn). bucket_floats: the size of one allreduce call.
  DataParallel(dist::Communicator& comm, NamedTensorList params, std::vector<Tensor> state,
               int64_t bucket_floats = int64_t{1} << 20);
  bool active() const { return comm_.size() > 1; }
  int rank() const { return comm_.rank(); }
  int size() const { return comm_.size(); }
  // Before the first step: every rank takes rank 0's parameters and state (the same seed already
  // makes them equal; this makes it so whatever each rank loaded).
  void broadcast_from_first();
  // Before backward, to overlap the exchange with it. local_samples / global_samples: this rank's
  // share of the step; local_loss: this rank's mean loss.
  void begin_step(int64_t local_samples, int64_t global_samples, double local_loss);
  // During backward: `leaf`'s gradient is final (other leaves are ignored).
  void gradient_final(const Tensor& leaf);
  // begin_step, then loss's backward reporting each finished gradient to gradient_final: the
  // training step's backward with the exchange overlapped (reduce_gradients still follows).
  void backward(const Tensor& loss, int64_t local_samples, int64_t global_samples, double local_loss);
  // After backward, before the optimizer step (begins the step itself when begin_step was not
  // called, with the same arguments). Returns the global batch's mean loss.
  double reduce_gradients(int64_t local_samples, int64_t global_samples, double local_loss);
  // After the optimizer step: every state tensor becomes the mean over ranks.
  void average_state();
  int64_t buckets() const { return static_cast<int64_t>(buckets_.size()); }
  int64_t calls() const { return calls_; }  // allreduce calls made so far
  // Buckets whose sum started during the last step's backward (before reduce_gradients).
  int64_t started_early() const { return started_early_; }

 private:
  dist::Communicator& comm_;
  NamedTensorList params_;
  std::vector<Tensor> state_;
  double reduce_on_device(float w, double local_loss);
  void launch(size_t bucket);
  double finish_on_host();

  Device device_ = Device::cpu();  // where the parameters live (all on one device)
  std::vector<std::vector<size_t>> buckets_;  // indices into params_
  std::vector<size_t> bucket_of_;             // by parameter
  std::unordered_map<const TensorImpl*, size_t> index_;  // parameter -> its index in params_
  std::vector<float> buf_;                    // average_state's
  int64_t calls_ = 0, started_early_ = 0;
  // The step in flight.
  bool stepping_ = false;
  float w_ = 0;
  double local_loss_ = 0;
  std::vector<char> final_;                   // by parameter
  std::vector<int64_t> left_;                 // by bucket: parameters not final yet
  std::vector<std::vector<float>> bufs_;      // by bucket: w * gradients (+ the header, last)
  std::vector<int64_t> handles_;              // by bucket: its started sum
  size_t launched_ = 0;                       // buckets started, in order
};

// Every rank must read the same bytes from `path` (a checkpoint to resume, a model to fine-tune):
// Error naming the first rank whose SHA-256 differs from rank 0's. `what` names the flag.
void check_same_file_on_all_ranks(dist::Communicator& comm, const std::string& path, const std::string& what);

}  // namespace signet
