#include "engine/cpu_allocator.h"

#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

namespace signet {

namespace {
constexpr size_t kMaxCachedBytes = size_t(2) << 30;

size_t round_size(size_t n) {
  if (n == 0) n = 1;
  const size_t a = n > (64u << 10) ? 4096 : 64;
  return (n + a - 1) / a * a;
}

struct Cache {
  std::mutex mu;
  std::unordered_map<size_t, std::vector<void*>> free_lists;
  CpuAllocatorStats stats;
};

Cache& cache() {
  // Never destroyed: tensors held in static objects may be freed after main returns.
  static Cache* c = new Cache();
  return *c;
}
}  // namespace

void* cpu_alloc(size_t nbytes) {
  const size_t n = round_size(nbytes);
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mu);
    ++c.stats.allocations;
    auto it = c.free_lists.find(n);
    if (it != c.free_lists.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c.stats.cached_bytes -= n;
      ++c.stats.cache_hits;
      return p;
    }
  }
  void* p = std::aligned_alloc(64, n);
  if (!p) {
    cpu_allocator_release_cache();
    p = std::aligned_alloc(64, n);
    if (!p) throw std::bad_alloc();
  }
  std::lock_guard<std::mutex> lock(c.mu);
  ++c.stats.system_allocs;
  c.stats.system_bytes += n;
  return p;
}

void cpu_free(void* p, size_t nbytes) {
  if (!p) return;
  const size_t n = round_size(nbytes);
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mu);
    if (c.stats.cached_bytes + n <= kMaxCachedBytes) {
      c.free_lists[n].push_back(p);
      c.stats.cached_bytes += n;
      return;
    }
    ++c.stats.system_frees;
  }
  std::free(p);
}

CpuAllocatorStats cpu_allocator_stats() {
  std::lock_guard<std::mutex> lock(cache().mu);
  return cache().stats;
}

void cpu_allocator_release_cache() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  for (auto& [n, list] : c.free_lists) {
    for (void* p : list) std::free(p);
    c.stats.system_frees += list.size();
  }
  c.free_lists.clear();
  c.stats.cached_bytes = 0;
}

}  // namespace signet
