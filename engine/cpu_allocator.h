// CPU caching allocator. A training step allocates the same sizes every time; returning big
// blocks to the OS (glibc unmaps anything above its mmap threshold) and faulting them back in
// costs more than the arithmetic of a small model. Freed blocks are therefore kept in per-size
// free lists and handed out again. Sizes are rounded up (to 64 B, then to 4 KiB past 64 KiB),
// blocks are 64-byte aligned. The cache is bounded: past `kMaxCachedBytes` blocks are freed.
#pragma once
#include <cstddef>

namespace signet {

void* cpu_alloc(size_t nbytes);
void cpu_free(void* p, size_t nbytes);

struct CpuAllocatorStats {
  size_t allocations = 0;     // calls to cpu_alloc
  size_t cache_hits = 0;      // served from the cache
  size_t system_allocs = 0;   // misses: served by aligned_alloc (allocations - cache_hits)
  size_t system_bytes = 0;    // bytes those misses asked the system for (rounded sizes)
  size_t system_frees = 0;    // blocks handed back to the system (cache full, or released)
  size_t cached_bytes = 0;    // currently held in free lists
};
CpuAllocatorStats cpu_allocator_stats();
void cpu_allocator_release_cache();  // frees every cached block

}  // namespace signet
