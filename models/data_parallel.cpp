#include "models/data_parallel.h"

#include <cstring>

#include "engine/error.h"
#include "engine/ops/binary.h"
#include "engine/profiler.h"
#include "engine/serialize/atomic_file.h"
#include "engine/serialize/file_read.h"

namespace signet {

namespace {
constexpr int64_t kHeader = 1;  // the weighted loss; then one flag per parameter

void check_cpu_f32(const std::string& name, const Tensor& t) {
  SIGNET_CHECK(t.device().is_cpu() && t.dtype() == DType::F32,
               "data-parallel training: '{}' is {} on {}: only float32 tensors on the CPU are exchanged for now", name,
               t.str(), t.device().str());
}
}  // namespace

DataParallel::DataParallel(dist::Communicator& comm, NamedTensorList params, std::vector<Tensor> state,
                           int64_t bucket_floats)
    : comm_(comm), params_(std::move(params)), state_(std::move(state)) {
  SIGNET_CHECK(bucket_floats > 0, "data-parallel training: bucket size must be positive, got {}", bucket_floats);
  if (!active()) return;  // one process: nothing is exchanged
  for (const auto& [name, p] : params_) check_cpu_f32(name, p);
  for (const Tensor& s : state_) check_cpu_f32("state", s);
  // Reverse registration order: backward finishes the last layers first.
  int64_t filled = 0;
  for (size_t i = params_.size(); i-- > 0;) {
    const int64_t n = params_[i].second.numel();
    if (buckets_.empty() || (filled > 0 && filled + n > bucket_floats)) buckets_.emplace_back(), filled = 0;
    buckets_.back().push_back(i);
    filled += n;
  }
}

void DataParallel::broadcast_from_first() {
  if (!active()) return;
  auto send = [&](const Tensor& t) {
    SIGNET_CHECK(t.is_contiguous(), "data-parallel training: a parameter is not contiguous");
    comm_.broadcast(t.f32(), t.numel() * static_cast<int64_t>(sizeof(float)), 0);
  };
  for (const auto& [name, p] : params_) send(p);
  for (const Tensor& s : state_) send(s);
}

double DataParallel::reduce_gradients(int64_t local_samples, int64_t global_samples, double local_loss) {
  if (!active()) return local_loss;
  SIGNET_CHECK(global_samples > 0 && local_samples >= 0 && local_samples <= global_samples,
               "data-parallel training: {} of {} samples on rank {}", local_samples, global_samples, rank());
  profiler::OpScope scope("allreduce");
  const float w = static_cast<float>(static_cast<double>(local_samples) / static_cast<double>(global_samples));
  const int64_t np = static_cast<int64_t>(params_.size());
  std::vector<char> has_grad(params_.size(), 0);
  double loss = 0;
  for (size_t b = 0; b < buckets_.size(); ++b) {
    const int64_t head = b == 0 ? kHeader + np : 0;
    int64_t total = head;
    for (size_t i : buckets_[b]) total += params_[i].second.numel();
    buf_.assign(static_cast<size_t>(total), 0.0f);
    if (b == 0) {
      buf_[0] = static_cast<float>(w * local_loss);
      for (int64_t i = 0; i < np; ++i) buf_[static_cast<size_t>(kHeader + i)] = params_[static_cast<size_t>(i)].second.grad().defined();
    }
    int64_t off = head;
    for (size_t i : buckets_[b]) {
      const Tensor g = params_[i].second.grad();
      const int64_t n = params_[i].second.numel();
      if (g.defined()) {
        const Tensor gc = g.contiguous();
        cpu::scale(gc.f32(), w, buf_.data() + off, n);
      }
      off += n;
    }
    comm_.allreduce_sum(buf_.data(), total);
    ++calls_;
    if (b == 0) {
      loss = buf_[0];
      for (int64_t i = 0; i < np; ++i) has_grad[static_cast<size_t>(i)] = buf_[static_cast<size_t>(kHeader + i)] > 0;
    }
    off = head;
    for (size_t i : buckets_[b]) {
      Tensor& p = params_[i].second;
      const int64_t n = p.numel();
      if (has_grad[i]) {
        Tensor g = p.grad();
        if (!g.defined() || !g.is_contiguous() || !g.device().is_cpu()) {
          g = Tensor::empty(p.shape());
          p.set_grad(g);
        }
        std::memcpy(g.f32(), buf_.data() + off, static_cast<size_t>(n) * sizeof(float));
      }
      off += n;
    }
  }
  return loss;
}

void DataParallel::average_state() {
  if (!active() || state_.empty()) return;
  profiler::OpScope scope("allreduce");
  int64_t total = 0;
  for (const Tensor& s : state_) total += s.numel();
  buf_.resize(static_cast<size_t>(total));
  int64_t off = 0;
  for (const Tensor& s : state_) {
    const Tensor c = s.contiguous();
    std::memcpy(buf_.data() + off, c.f32(), static_cast<size_t>(s.numel()) * sizeof(float));
    off += s.numel();
  }
  comm_.allreduce_sum(buf_.data(), total);
  ++calls_;
  const float inv = 1.0f / static_cast<float>(size());
  off = 0;
  for (const Tensor& s : state_) {
    SIGNET_CHECK(s.is_contiguous(), "data-parallel training: a state tensor is not contiguous");
    cpu::scale(buf_.data() + off, inv, s.f32(), s.numel());
    off += s.numel();
  }
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
