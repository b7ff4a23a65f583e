#include "engine/cuda/caching_allocator.h"

#include <algorithm>

#include "engine/error.h"

namespace signet::cuda {

size_t CachingAllocator::round_size(size_t n) {
  if (n == 0) n = 1;
  const size_t a = n > (size_t(1) << 20) ? (size_t(128) << 10) : 512;
  return (n + a - 1) / a * a;
}

CachingAllocator::~CachingAllocator() { release_cache(); }

void* CachingAllocator::allocate(size_t nbytes) {
  const size_t n = round_size(nbytes);
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.allocations;
    auto it = free_lists_.find(n);
    if (it != free_lists_.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      stats_.cached_bytes -= n;
      ++stats_.cache_hits;
      stats_.bytes_in_use += n;
      stats_.peak_bytes_in_use = std::max(stats_.peak_bytes_in_use, stats_.bytes_in_use);
      return p;
    }
  }
  void* p = raw_.allocate(n);
  if (!p) {
    release_cache();
    p = raw_.allocate(n);
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (!p)
    throw Error(fmt::format("out of memory on {}: {} bytes asked for, {} in use by tensors, nothing cached", raw_.device,
                            n, stats_.bytes_in_use));
  ++stats_.device_allocs;
  stats_.bytes_in_use += n;
  stats_.peak_bytes_in_use = std::max(stats_.peak_bytes_in_use, stats_.bytes_in_use);
  return p;
}

void CachingAllocator::free(void* p, size_t nbytes) {
  if (!p) return;
  const size_t n = round_size(nbytes);
  std::lock_guard<std::mutex> lock(mu_);
  free_lists_[n].push_back(p);
  stats_.cached_bytes += n;
  stats_.bytes_in_use -= n;
}

void CachingAllocator::release_cache() {
  std::vector<void*> blocks;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [size, list] : free_lists_) blocks.insert(blocks.end(), list.begin(), list.end());
    free_lists_.clear();
    stats_.device_frees += blocks.size();
    stats_.cached_bytes = 0;
  }
  for (void* p : blocks) raw_.release(p);
}

DeviceAllocatorStats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace signet::cuda
