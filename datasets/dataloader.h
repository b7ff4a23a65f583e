// DataLoader: mini-batches of a Dataset, shuffled reproducibly, optionally prefetched.
//
// Contract:
//  - Each epoch visits every index exactly once. With shuffle, the order is a function of
//    (seed, epoch) only: Rng(seed * 1000003 + epoch).shuffle(0..N-1). It never depends on hidden
//    state, so a run resumed at epoch e sees the same batches as an uninterrupted one. Without
//    shuffle, the order is 0..N-1.
//  - num_batches() = ceil(N / B), or floor(N / B) with drop_last (the short tail is dropped).
//  - Image sets (float32 [N, C, H, W]): Batch.x is a fresh float32 [B, C, H, W] tensor,
//    (pixel - mean[c]) / stddev[c] per channel when mean/stddev are given (both of size C,
//    stddev > 0), else a copy of the pixels. With augment, each sample is first randomly
//    cropped (zero padding crop_pad) and, with hflip, flipped with probability 0.5, in pixel
//    space, before normalisation; the draw is augment_params(seed, epoch, dataset index)
//    (datasets/augment.h), so it depends on (seed, epoch, sample) only, never on the thread.
//  - Token sets (int64 [N, L], Dataset::is_tokens()): Batch.x is a fresh int64 [B, L] copy of
//    the rows, never normalised or augmented (asking for either throws Error in the
//    constructor). An id outside [0, vocab_size) (when vocab_size > 0), or negative, throws
//    Error from next(), like a bad label.
//    Batch.y is a fresh int64 [B]; a label outside [0, num_classes) throws Error from next().
//    The caller owns both: later batches never overwrite them.
//  - prefetch: a background thread assembles batch k+1 while the caller works on batch k.
//    Results are bit-identical with prefetch on or off. An exception in the worker is rethrown
//    from next() (and again on every later next() until start_epoch). Destroying the loader
//    mid-epoch waits for at most the one batch in flight, then joins the thread.
//    Batch tensors are allocated and freed on the caller's thread, never on the worker, so the
//    engine's CPU allocator need not be thread-safe.
//  - next() before any start_epoch() starts epoch 0. After the last batch, next() returns false
//    until start_epoch() is called again. start_epoch() may be called at any time (it abandons
//    the current epoch).
//  - The loader keeps shallow copies of the dataset tensors; the Dataset may go away.
//  - Not thread-safe itself: one caller thread drives a loader.
//  - Data parallelism (shards = P > 1, shard = r): batch k is this shard's part of global batch k.
//    Global batch k is order positions [k*B, min((k+1)*B, N)), g of them; shard r gets positions
//    [k*B + g*r/P, k*B + g*(r+1)/P): contiguous, sizes differing by at most one, empty for some of the
//    first ranks when g < P. The P shards together see exactly the batches of one unsharded
//    loader with the same seed. Batch.global_size is g, Batch.global_y the g labels of the whole
//    step (for loss terms that average over the step's samples of some classes).
#pragma once
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "datasets/dataset.h"

namespace signet {

struct Batch {
  Tensor x;  // float32 [B, C, H, W], normalised; or int64 [B, L] token ids
  Tensor y;  // int64 [B]
  int64_t global_size = -1;  // samples of this step over all shards (-1: not from a loader: B)
  Tensor global_y;           // sharded loaders: int64 [global_size], the labels of the whole step
};

struct DataLoaderOptions {
  int64_t batch_size = 128;
  bool shuffle = true;
  bool drop_last = false;
  uint64_t seed = 0;
  std::vector<float> mean, stddev;  // per channel; empty = no normalisation
  bool prefetch = true;             // assemble the next batch on a background thread
  bool augment = false;             // image sets: random crop (+ flip), see datasets/augment.h
  int64_t crop_pad = 4;             // zero padding of the random crop (0: no crop)
  bool hflip = true;                // with augment: horizontal flip with probability 0.5
  int shard = 0, shards = 1;        // data parallelism: this rank's share of every batch
};

class DataLoader {
 public:
  DataLoader(const Dataset& ds, DataLoaderOptions opts);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  void start_epoch(int64_t epoch);
  bool next(Batch& out);  // false at end of epoch
  int64_t num_batches() const;
  int64_t size() const { return n_; }               // N, the number of samples
  int64_t epoch() const { return epoch_; }          // the current epoch (-1 before any)
  const std::vector<int64_t>& order() const { return order_; }  // this epoch's index order

 private:
  // Order positions of this shard's part of batch k: {first, count}; and the global batch size.
  std::pair<int64_t, int64_t> span(int64_t k, int64_t* global = nullptr) const;
  Batch alloc_batch(int64_t k) const;        // caller's thread: tensors for batch k
  void fill_batch(int64_t k, Batch& b) const;  // any thread: gather + augment + normalise
  void fill_tokens(int64_t k, Batch& b) const;  // any thread: gather token rows
  void fill_global_labels(int64_t k, Batch& b) const;  // any thread: the whole step's labels
  void request(int64_t k);                   // hand batch k to the worker (lock held by caller)
  void worker_loop();

  Tensor images_, labels_;
  DataLoaderOptions opts_;
  int64_t n_ = 0, c_ = 0, hw_ = 0;  // images: C and H * W; tokens: c_ = 1, hw_ = L
  bool tokens_ = false;             // images_ is int64 [N, L]
  int64_t vocab_size_ = 0;          // tokens: ids must be < vocab_size_ when > 0
  std::string name_;
  int64_t num_classes_ = 10;       // labels outside [0, num_classes) fail the batch
  std::vector<float> mean_, std_;  // empty: no normalisation
  std::vector<int64_t> order_;
  int64_t epoch_ = -1;
  int64_t cursor_ = 0;  // index of the next batch next() returns

  // Prefetch state, guarded by mu_. One job slot and one result slot.
  std::thread worker_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool has_job_ = false, busy_ = false, has_result_ = false;
  int64_t job_k_ = -1;
  Batch job_, result_;
  std::exception_ptr error_;
};

// Per-channel mean and (population) standard deviation of float32 [N, C, H, W] images,
// accumulated in double. Throws Error on a wrong dtype/rank or an empty tensor.
std::pair<std::vector<float>, std::vector<float>> channel_mean_std(const Tensor& images);

}  // namespace signet
