// A caching allocator for one device's memory. cudaMalloc and cudaFree synchronise the device
// and cost far more than a training step's kernels, and a step allocates the same sizes every
// time; so freed blocks are kept in per-size free lists and handed out again, and after the first
// step no block comes from the device. Sizes are rounded up (to 512 B, then to 128 KiB past
// 1 MiB). When the device is out of memory the cache is released and the allocation tried once
// more; then it fails with an Error that says how much was in use and cached.
//
// The memory itself comes from a RawMemory (cudaMalloc/cudaFree for a GPU; tests give it host
// memory, so the bookkeeping is tested on machines without a GPU).
#pragma once
#include <cstddef>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace signet::cuda {

struct RawMemory {
  std::string device;                          // for messages, e.g. "cuda:0"
  std::function<void*(size_t)> allocate;       // nullptr when out of memory
  std::function<void(void*)> release;
};

struct DeviceAllocatorStats {
  size_t allocations = 0;    // blocks asked for
  size_t cache_hits = 0;     // served from the cache
  size_t device_allocs = 0;  // served by RawMemory::allocate
  size_t device_frees = 0;   // blocks given back by RawMemory::release (only when the cache is released)
  size_t bytes_in_use = 0;   // rounded sizes of the blocks handed out and not yet freed
  size_t peak_bytes_in_use = 0;
  size_t cached_bytes = 0;   // held in free lists
};

class CachingAllocator {
 public:
  explicit CachingAllocator(RawMemory raw) : raw_(std::move(raw)) {}
  ~CachingAllocator();
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  void* allocate(size_t nbytes);          // throws Error when the device has no room
  void free(void* p, size_t nbytes);      // nbytes: the size given to allocate
  void release_cache();                   // every cached block back to the device
  DeviceAllocatorStats stats() const;

  static size_t round_size(size_t nbytes);

 private:
  RawMemory raw_;
  mutable std::mutex mu_;
  std::unordered_map<size_t, std::vector<void*>> free_lists_;
  DeviceAllocatorStats stats_;
};

}  // namespace signet::cuda
