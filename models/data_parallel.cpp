#include "models/data_parallel.h"

#include <cstring>

#include "engine/autograd.h"
#include "engine/autograd_ready.h"
#include "engine/error.h"
#include "engine/ops/binary.h"
#include "engine/profiler.h"
#include "engine/serialize/atomic_file.h"
#include "engine/serialize/file_read.h"

namespace signet {

namespace {
constexpr int64_t kHeader = 1;  // the weighted loss; then one flag per parameter

void check_f32_on(const std::string& name, const Tensor& t, const Device& device) {
  SIGNET_CHECK(t.dtype() == DType::F32 && t.device() == device,
               "data-parallel training: '{}' is {} on {}: every exchanged tensor must be float32 on {}", name, t.str(),
               t.device().str(), device.str());
}

// t (on any device) set from host values.
void set_from_host(Tensor& t, const float* v) {
  const Tensor h = Tensor::from_vector(std::vector<float>(v, v + t.numel()), t.shape());
  t.copy_(t.device().is_cpu() ? h : h.to(t.device()));
}
}  // namespace

DataParallel::DataParallel(dist::Communicator& comm, NamedTensorList params, std::vector<Tensor> state,
                           int64_t bucket_floats)
    : comm_(comm), params_(std::move(params)), state_(std::move(state)) {
  SIGNET_CHECK(bucket_floats > 0, "data-parallel training: bucket size must be positive, got {}", bucket_floats);
  if (!active()) return;  // one process: nothing is exchanged
  if (!params_.empty()) device_ = params_[0].second.device();
  for (const auto& [name, p] : params_) check_f32_on(name, p, device_);
  for (const Tensor& s : state_) check_f32_on("state", s, device_);
  // Reverse registration order: backward finishes the last layers first.
  int64_t filled = 0;
  bucket_of_.resize(params_.size());
  for (size_t i = params_.size(); i-- > 0;) {
    const int64_t n = params_[i].second.numel();
    if (buckets_.empty() || (filled > 0 && filled + n > bucket_floats)) buckets_.emplace_back(), filled = 0;
    buckets_.back().push_back(i);
    bucket_of_[i] = buckets_.size() - 1;
    index_[params_[i].second.impl()] = i;
    filled += n;
  }
  if (buckets_.empty()) buckets_.emplace_back();  // the header still travels
  bufs_.resize(buckets_.size());
  handles_.resize(buckets_.size());
}

void DataParallel::broadcast_from_first() {
  if (!active()) return;
  auto send = [&](Tensor t) {
    const int64_t bytes = t.numel() * static_cast<int64_t>(sizeof(float));
    if (t.device().is_cpu()) {
      SIGNET_CHECK(t.is_contiguous(), "data-parallel training: a parameter is not contiguous");
      comm_.broadcast(t.f32(), bytes, 0);
    } else {  // once per run: through host memory
      std::vector<float> v = t.to_vector();
      comm_.broadcast(v.data(), bytes, 0);
      set_from_host(t, v.data());
    }
  };
  for (const auto& [name, p] : params_) send(p);
  for (const Tensor& s : state_) send(s);
}

void DataParallel::begin_step(int64_t local_samples, int64_t global_samples, double local_loss) {
  if (!active()) return;
  SIGNET_CHECK(!stepping_, "internal: data-parallel step begun twice");
  SIGNET_CHECK(global_samples > 0 && local_samples >= 0 && local_samples <= global_samples,
               "data-parallel training: {} of {} samples on rank {}", local_samples, global_samples, rank());
  w_ = static_cast<float>(static_cast<double>(local_samples) / static_cast<double>(global_samples));
  local_loss_ = local_loss;
  stepping_ = true;
  final_.assign(params_.size(), 0);
  left_.clear();
  for (const auto& bucket : buckets_) left_.push_back(static_cast<int64_t>(bucket.size()));
  launched_ = 0;
  started_early_ = 0;
}

void DataParallel::gradient_final(const Tensor& leaf) {
  if (!stepping_ || !device_.is_cpu()) return;  // GPUs exchange after backward (reduce_on_device)
  const auto it = index_.find(leaf.impl());
  if (it == index_.end() || final_[it->second]) return;
  final_[it->second] = 1;
  --left_[bucket_of_[it->second]];
  while (launched_ < buckets_.size() && left_[launched_] == 0) {
    launch(launched_++);
    ++started_early_;
  }
  comm_.progress();
}

void DataParallel::backward(const Tensor& loss, int64_t local_samples, int64_t global_samples, double local_loss) {
  begin_step(local_samples, global_samples, local_loss);
  run_backward_reporting(loss, [this](const Tensor& leaf) { gradient_final(leaf); });
}

double DataParallel::reduce_gradients(int64_t local_samples, int64_t global_samples, double local_loss) {
  if (!active()) return local_loss;
  if (!stepping_) begin_step(local_samples, global_samples, local_loss);
  stepping_ = false;
  profiler::OpScope scope("allreduce");
  if (!device_.is_cpu()) return reduce_on_device(w_, local_loss_);
  return finish_on_host();
}

// Packs bucket b (w * each gradient; the last bucket also the header: the weighted loss and one
// has-a-gradient flag per parameter, all final by now since buckets start in order) and starts
// its sum.
void DataParallel::launch(size_t b) {
  profiler::OpScope scope("allreduce");
  const bool last = b + 1 == buckets_.size();
  const int64_t np = static_cast<int64_t>(params_.size());
  const int64_t head = last ? kHeader + np : 0;
  int64_t total = head;
  for (size_t i : buckets_[b]) total += params_[i].second.numel();
  std::vector<float>& buf = bufs_[b];
  buf.assign(static_cast<size_t>(total), 0.0f);
  if (last) {
    buf[0] = static_cast<float>(w_ * local_loss_);
    for (int64_t i = 0; i < np; ++i)
      buf[static_cast<size_t>(kHeader + i)] = params_[static_cast<size_t>(i)].second.grad().defined();
  }
  int64_t off = head;
  for (size_t i : buckets_[b]) {
    const Tensor g = params_[i].second.grad();
    const int64_t n = params_[i].second.numel();
    if (g.defined()) {
      const Tensor gc = g.contiguous();
      cpu::scale(gc.f32(), w_, buf.data() + off, n);
    }
    off += n;
  }
  handles_[b] = comm_.allreduce_sum_start(buf.data(), total);
  ++calls_;
}

// Starts the buckets backward did not finish, waits for every sum, and writes the gradients.
double DataParallel::finish_on_host() {
  while (launched_ < buckets_.size()) launch(launched_++);
  for (size_t b = 0; b < buckets_.size(); ++b) comm_.wait(handles_[b]);
  const std::vector<float>& header = bufs_.back();
  const auto has_grad = [&](size_t i) { return header[static_cast<size_t>(kHeader) + i] > 0; };
  for (size_t b = 0; b < buckets_.size(); ++b) {
    int64_t off = b + 1 == buckets_.size() ? kHeader + static_cast<int64_t>(params_.size()) : 0;
    for (size_t i : buckets_[b]) {
      Tensor& p = params_[i].second;
      const int64_t n = p.numel();
      if (has_grad(i)) {
        Tensor g = p.grad();
        if (!g.defined() || !g.is_contiguous() || !g.device().is_cpu()) {
          g = Tensor::empty(p.shape());
          p.set_grad(g);
        }
        std::memcpy(g.f32(), bufs_[b].data() + off, static_cast<size_t>(n) * sizeof(float));
      }
      off += n;
    }
  }
  return header[0];
}

void DataParallel::average_state() {
  if (!active() || state_.empty()) return;
  profiler::OpScope scope("allreduce");
  int64_t total = 0;
  for (const Tensor& s : state_) total += s.numel();
  buf_.resize(static_cast<size_t>(total));
  int64_t off = 0;
  for (const Tensor& s : state_) {  // a few running statistics: a host copy from any device
    const std::vector<float> v = s.to_vector();
    std::memcpy(buf_.data() + off, v.data(), v.size() * sizeof(float));
    off += s.numel();
  }
  comm_.allreduce_sum(buf_.data(), total);
  ++calls_;
  const float inv = 1.0f / static_cast<float>(size());
  off = 0;
  for (Tensor& s : state_) {
    if (s.device().is_cpu()) {
      SIGNET_CHECK(s.is_contiguous(), "data-parallel training: a state tensor is not contiguous");
      cpu::scale(buf_.data() + off, inv, s.f32(), s.numel());
    } else {
      cpu::scale(buf_.data() + off, inv, buf_.data() + off, s.numel());
      set_from_host(s, buf_.data() + off);
    }
    off += s.numel();
  }
}

// The exchange for parameters on a GPU: the header (loss, which parameters have a gradient) on
// the host, then each bucket packed on the device (w * grad, by the device's ops), summed there
// (Communicator::allreduce_sum_device: NCCL, or host staging) and unpacked into the gradients.
double DataParallel::reduce_on_device(float w, double local_loss) {
  NoGradGuard no_grad;
  const int64_t np = static_cast<int64_t>(params_.size());
  std::vector<float> head(static_cast<size_t>(kHeader + np), 0.0f);
  head[0] = static_cast<float>(w * local_loss);
  for (int64_t i = 0; i < np; ++i) head[static_cast<size_t>(kHeader + i)] = params_[static_cast<size_t>(i)].second.grad().defined();
  comm_.allreduce_sum(head.data(), kHeader + np);
  ++calls_;
  for (const auto& bucket : buckets_) {
    int64_t total = 0;
    for (size_t i : bucket) total += params_[i].second.numel();
    Tensor buf = Tensor::zeros({total}, DType::F32, device_);
    int64_t off = 0;
    for (size_t i : bucket) {
      const Tensor g = params_[i].second.grad();
      const int64_t n = params_[i].second.numel();
      if (g.defined()) buf.narrow_view(0, off, n).copy_(mul_scalar(g.contiguous(), w).view_as_shape({n}));
      off += n;
    }
    comm_.allreduce_sum_device(buf.device_f32(), total, device_);
    ++calls_;
    off = 0;
    for (size_t i : bucket) {
      Tensor& p = params_[i].second;
      const int64_t n = p.numel();
      if (head[static_cast<size_t>(kHeader) + i] > 0) {
        Tensor g = p.grad();
        if (!g.defined() || !g.is_contiguous() || g.device() != device_) {
          g = Tensor::zeros(p.shape(), DType::F32, device_);
          p.set_grad(g);
        }
        g.copy_(buf.narrow_view(0, off, n).view_as_shape(p.shape()));
      }
      off += n;
    }
  }
  return head[0];
}

void check_same_file_on_all_ranks(dist::Communicator& comm, const std::string& path, const std::string& what) {
  if (comm.size() <= 1 || path.empty()) return;
  std::string digest;
  try {
    digest = sha256_hex(read_file(path));
  } catch (const Error& e) {
    digest = std::string("unreadable: ") + e.what();
  }
  const std::vector<std::string> all = comm.allgather(digest);
  if (all[0].rfind("unreadable", 0) == 0) return;  // rank 0's own load reports why
  for (size_t r = 0; r < all.size(); ++r)
    SIGNET_CHECK(all[r] == all[0] && all[r].rfind("unreadable", 0) != 0,
                 "{} '{}': rank {} read {} but rank 0 read {}: every rank must see the same file (a shared "
                 "directory, or the same copy on every machine)",
                 what, path, r, all[r].substr(0, 80), all[0].substr(0, 80));
}

}  // namespace signet
