// DataLoader: see dataloader.h for the contract.
//
// Threading: one persistent worker with a one-slot job and a one-slot result. The caller's
// thread allocates each batch's tensors and hands them over (so allocation and freeing never
// happen on the worker); the worker only gathers and normalises into them. start_epoch() and
// the destructor wait for a job in progress to finish, which bounds them by one batch of work.
#include "datasets/dataloader.h"

#include "engine/thread_governor.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>

#include "datasets/augment.h"
#include "engine/rng.h"

namespace signet {

DataLoader::DataLoader(const Dataset& ds, DataLoaderOptions opts) : opts_(std::move(opts)) {
  SIGNET_CHECK(ds.images.defined() && ds.labels.defined(),
               "DataLoader: dataset '{}' has no images or labels", ds.name);
  tokens_ = ds.is_tokens();
  SIGNET_CHECK(tokens_ || (ds.images.dtype() == DType::F32 && ds.images.dim() == 4),
               "DataLoader: dataset '{}' images must be float32 [N, C, H, W] (or int64 [N, L] "
               "tokens), got {}",
               ds.name, ds.images.str());
  SIGNET_CHECK(ds.labels.dtype() == DType::I64 && ds.labels.dim() == 1,
               "DataLoader: dataset '{}' labels must be int64 [N], got {}", ds.name,
               ds.labels.str());
  SIGNET_CHECK(ds.images.device().is_cpu() && ds.labels.device().is_cpu(),
               "DataLoader: dataset '{}' must be on the CPU (batches are moved to the device "
               "explicitly by the caller)",
               ds.name);
  SIGNET_CHECK(ds.images.size(0) == ds.labels.size(0),
               "DataLoader: dataset '{}' has {} images but {} labels", ds.name,
               ds.images.size(0), ds.labels.size(0));
  SIGNET_CHECK(opts_.batch_size > 0, "DataLoader: batch size must be positive, got {}",
               opts_.batch_size);
  SIGNET_CHECK(opts_.shards >= 1 && opts_.shard >= 0 && opts_.shard < opts_.shards,
               "DataLoader: shard {} of {} does not exist", opts_.shard, opts_.shards);
  // Gathering rows with memcpy needs packed memory; contiguous() is free when already packed.
  images_ = ds.images.contiguous();
  labels_ = ds.labels.contiguous();
  n_ = images_.size(0);
  c_ = tokens_ ? 1 : images_.size(1);
  hw_ = tokens_ ? images_.size(1) : images_.size(2) * images_.size(3);
  name_ = ds.name;
  num_classes_ = ds.num_classes;
  vocab_size_ = ds.vocab_size;
  if (tokens_) {
    SIGNET_CHECK(opts_.mean.empty() && opts_.stddev.empty() && !opts_.augment,
                 "DataLoader: dataset '{}' holds int64 token ids, which are neither normalised "
                 "nor augmented: leave mean/stddev empty and augment off",
                 ds.name);
  }
  SIGNET_CHECK(!opts_.augment || opts_.crop_pad >= 0,
               "DataLoader: crop padding must be >= 0, got {}", opts_.crop_pad);

  const bool norm = !opts_.mean.empty() || !opts_.stddev.empty();
  if (norm) {
    SIGNET_CHECK(static_cast<int64_t>(opts_.mean.size()) == c_ &&
                     static_cast<int64_t>(opts_.stddev.size()) == c_,
                 "DataLoader: normalisation needs one mean and one stddev per channel ({} "
                 "channels), got {} means and {} stddevs",
                 c_, opts_.mean.size(), opts_.stddev.size());
    for (int64_t c = 0; c < c_; ++c) {
      const float s = opts_.stddev[c];
      SIGNET_CHECK(std::isfinite(s) && s > 0 && std::isfinite(opts_.mean[c]),
                   "DataLoader: channel {} has mean {} and stddev {}; stddev must be > 0", c,
                   opts_.mean[c], s);
    }
    mean_ = opts_.mean;
    std_ = opts_.stddev;
  }
  if (opts_.prefetch) worker_ = std::thread([this] { worker_loop(); });
}

DataLoader::~DataLoader() {
  if (worker_.joinable()) {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    worker_.join();
  }
}

int64_t DataLoader::num_batches() const {
  const int64_t b = opts_.batch_size;
  return opts_.drop_last ? n_ / b : n_ / b + (n_ % b != 0);  // no n_ + b - 1: b may be near INT64_MAX
}

void DataLoader::start_epoch(int64_t epoch) {
  if (worker_.joinable()) {
    std::unique_lock<std::mutex> lk(mu_);
    // Withdraw a queued job and wait out one in progress: it reads order_, rewritten below.
    has_job_ = false;
    cv_.wait(lk, [this] { return !busy_; });
    has_result_ = false;
    job_ = Batch{};
    result_ = Batch{};
    error_ = nullptr;
  }
  epoch_ = epoch;
  cursor_ = 0;
  order_.resize(static_cast<size_t>(n_));
  for (int64_t i = 0; i < n_; ++i) order_[static_cast<size_t>(i)] = i;
  if (opts_.shuffle) {
    // A fresh generator per epoch: the order depends on (seed, epoch) only.
    Rng rng(opts_.seed * 1000003ULL + static_cast<uint64_t>(epoch));
    rng.shuffle(order_);
  }
  if (worker_.joinable() && num_batches() > 0) {
    Batch b = alloc_batch(0);
    std::lock_guard<std::mutex> lk(mu_);
    job_ = std::move(b);
    request(0);
  }
}

bool DataLoader::next(Batch& out) {
  threads::adapt();  // between steps, on the thread that runs the model
  if (epoch_ < 0) start_epoch(0);
  if (cursor_ >= num_batches()) return false;
  if (!worker_.joinable()) {
    Batch b = alloc_batch(cursor_);
    fill_batch(cursor_, b);
    out = std::move(b);
    ++cursor_;
    return true;
  }
  // Allocate the following batch's tensors before taking the lock (allocation stays on this
  // thread and outside the critical section).
  const bool more = cursor_ + 1 < num_batches();
  Batch following = more ? alloc_batch(cursor_ + 1) : Batch{};
  std::unique_lock<std::mutex> lk(mu_);
  cv_.wait(lk, [this] { return has_result_ || error_ != nullptr; });
  // The error stays set, so every later next() rethrows it until start_epoch().
  if (error_) std::rethrow_exception(error_);
  out = std::move(result_);
  result_ = Batch{};
  has_result_ = false;
  ++cursor_;
  if (more) {
    job_ = std::move(following);
    request(cursor_);
  }
  return true;
}

void DataLoader::request(int64_t k) {
  job_k_ = k;
  has_job_ = true;
  cv_.notify_all();
}

std::pair<int64_t, int64_t> DataLoader::span(int64_t k, int64_t* global) const {
  const int64_t first = k * opts_.batch_size, g = std::min(opts_.batch_size, n_ - first);
  if (global) *global = g;
  const int64_t r = opts_.shard, p = opts_.shards;
  const int64_t lo = g * r / p, hi = g * (r + 1) / p;
  return {first + lo, hi - lo};
}

Batch DataLoader::alloc_batch(int64_t k) const {
  int64_t g = 0;
  const int64_t b = span(k, &g).second;
  Batch out;
  out.global_size = g;
  out.x = tokens_ ? Tensor::empty({b, hw_}, DType::I64)
                  : Tensor::empty({b, c_, images_.size(2), images_.size(3)}, DType::F32);
  out.y = Tensor::empty({b}, DType::I64);
  if (opts_.shards > 1) out.global_y = Tensor::empty({g}, DType::I64);
  return out;
}

void DataLoader::fill_global_labels(int64_t k, Batch& b) const {
  if (!b.global_y.defined()) return;
  const int64_t first = k * opts_.batch_size;
  const int64_t* lab = labels_.i64();
  int64_t* dst = b.global_y.i64();
  for (int64_t i = 0; i < b.global_y.numel(); ++i) dst[i] = lab[order_[static_cast<size_t>(first + i)]];
}

void DataLoader::fill_tokens(int64_t k, Batch& b) const {
  const int64_t bs = b.y.size(0), start = span(k).first, len = hw_;
  const int64_t* src = images_.i64();
  const int64_t* lab = labels_.i64();
  int64_t* dx = b.x.i64();
  int64_t* dy = b.y.i64();
  const auto bound = static_cast<uint64_t>(vocab_size_ > 0 ? vocab_size_ : INT64_MAX);
  for (int64_t i = 0; i < bs; ++i) {
    const int64_t idx = order_[static_cast<size_t>(start + i)];
    SIGNET_CHECK(lab[idx] >= 0 && lab[idx] < num_classes_,
                 "DataLoader: dataset '{}' sample {} has label {}, outside [0, {})", name_, idx,
                 lab[idx], num_classes_);
    dy[i] = lab[idx];
    const int64_t* s = src + idx * len;
    // One unsigned compare catches both negative ids and ids >= vocab_size.
    bool ok = true;
    for (int64_t p = 0; p < len; ++p) ok &= static_cast<uint64_t>(s[p]) < bound;
    if (!ok)
      for (int64_t p = 0; p < len; ++p)
        SIGNET_CHECK(static_cast<uint64_t>(s[p]) < bound,
                     "DataLoader: dataset '{}' sample {} has token id {} at position {}, outside "
                     "[0, {})",
                     name_, idx, s[p], p, vocab_size_ > 0 ? vocab_size_ : INT64_MAX);
    std::memcpy(dx + i * len, s, static_cast<size_t>(len) * sizeof(int64_t));
  }
}

void DataLoader::fill_batch(int64_t k, Batch& b) const {
  fill_global_labels(k, b);
  if (tokens_) return fill_tokens(k, b);
  const int64_t bs = b.y.size(0);
  const int64_t start = span(k).first;
  const int64_t row = c_ * hw_;
  const int64_t h = images_.size(2), w = images_.size(3);
  const float* src = images_.f32();
  const int64_t* lab = labels_.i64();
  float* dx = b.x.f32();
  int64_t* dy = b.y.i64();
  const bool norm = !mean_.empty();
  for (int64_t i = 0; i < bs; ++i) {
    const int64_t idx = order_[static_cast<size_t>(start + i)];
    const float* s = src + idx * row;
    float* d = dx + i * row;
    // Checked here, per batch, rather than once up front: it costs B compares, and a bad label
    // then fails at the batch that holds it, the same way with and without prefetch.
    SIGNET_CHECK(lab[idx] >= 0 && lab[idx] < num_classes_,
                 "DataLoader: dataset '{}' sample {} has label {}, outside [0, {})", name_, idx,
                 lab[idx], num_classes_);
    dy[i] = lab[idx];
    if (opts_.augment) {
      // Pixel space first (zero padding means black, as in torchvision), then normalise in place.
      augment_image(s, d, c_, h, w,
                    augment_params(opts_.seed, epoch_, idx, opts_.crop_pad, opts_.hflip));
      s = d;
    }
    if (!norm) {
      if (s != d) std::memcpy(d, s, static_cast<size_t>(row) * sizeof(float));
      continue;
    }
    for (int64_t c = 0; c < c_; ++c) {
      // Exactly (pixel - mean) / std, as documented; the compiler vectorises the division.
      const float m = mean_[c], sd = std_[c];
      const float* sc = s + c * hw_;
      float* dc = d + c * hw_;
      for (int64_t p = 0; p < hw_; ++p) dc[p] = (sc[p] - m) / sd;
    }
  }
}

void DataLoader::worker_loop() {
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    cv_.wait(lk, [this] { return stop_ || has_job_; });
    if (stop_) return;
    has_job_ = false;
    busy_ = true;
    const int64_t k = job_k_;
    Batch b = std::move(job_);
    job_ = Batch{};
    lk.unlock();
    std::exception_ptr err;
    try {
      fill_batch(k, b);
    } catch (...) {
      err = std::current_exception();
    }
    lk.lock();
    busy_ = false;
    // Hand the tensors back even when start_epoch() withdrew the job: it clears result_ on the
    // caller's thread, so the memory is freed there, not here.
    if (err) error_ = err;
    else has_result_ = true;
    result_ = std::move(b);
    cv_.notify_all();
  }
}

std::pair<std::vector<float>, std::vector<float>> channel_mean_std(const Tensor& images) {
  SIGNET_CHECK(images.defined() && images.dtype() == DType::F32 && images.dim() == 4,
               "channel_mean_std: expected float32 [N, C, H, W] images, got {} (token sets, "
               "int64 [N, L], are not normalised: skip normalisation for them)",
               images.defined() ? images.str() : std::string("an undefined tensor"));
  SIGNET_CHECK(images.numel() > 0, "channel_mean_std: the images are empty ({})",
               shape_str(images.shape()));
  const Tensor t = images.contiguous();
  const int64_t n = t.size(0), c = t.size(1), hw = t.size(2) * t.size(3);
  const float* p = t.f32();
  std::vector<double> sum(c, 0.0), sq(c, 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ch = 0; ch < c; ++ch) {
      const float* q = p + (i * c + ch) * hw;
      double s = 0, s2 = 0;  // per-image partial sums keep the double accumulation short
      for (int64_t j = 0; j < hw; ++j) {
        s += q[j];
        s2 += double(q[j]) * q[j];
      }
      sum[ch] += s;
      sq[ch] += s2;
    }
  std::vector<float> mean(c), sd(c);
  const double cnt = double(n) * double(hw);
  for (int64_t ch = 0; ch < c; ++ch) {
    const double m = sum[ch] / cnt;
    mean[ch] = static_cast<float>(m);
    sd[ch] = static_cast<float>(std::sqrt(std::max(0.0, sq[ch] / cnt - m * m)));
  }
  return {mean, sd};
}

}  // namespace signet
