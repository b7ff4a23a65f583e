// Tensors on CUDA devices: their memory comes from a caching allocator (tested here on host
// memory posing as a device's), and without a usable GPU every way of making one is an Error
// that says why; with one, a tensor goes there and back unchanged.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <set>

#include "engine/cuda/caching_allocator.h"
#include "engine/cuda/runtime.h"
#include "engine/tensor.h"
#include "tests/engine/gradcheck.h"

namespace signet {
namespace {

// Host memory posing as a device's, with a budget, counting what the allocator asks of it.
struct FakeDevice {
  size_t budget, used = 0, mallocs = 0, frees = 0;
  std::set<void*> live;
  cuda::RawMemory raw() {
    return {"fake:0",
            [this](size_t n) -> void* {
              if (used + n > budget) return nullptr;
              void* p = std::malloc(n);
              used += n;
              ++mallocs;
              live.insert(p);
              sizes[p] = n;
              return p;
            },
            [this](void* p) {
              used -= sizes.at(p);
              sizes.erase(p);
              live.erase(p);
              ++frees;
              std::free(p);
            }};
  }
  std::map<void*, size_t> sizes;
};

TEST(DeviceMemory, RepeatedSizesComeFromTheCacheAfterTheFirstStep) {
  FakeDevice dev{1 << 24};
  cuda::CachingAllocator a(dev.raw());
  const std::vector<size_t> step = {1000, 4096, 3 << 20, 1000, 1};
  for (int s = 0; s < 5; ++s) {
    std::vector<void*> blocks;
    for (size_t n : step) blocks.push_back(a.allocate(n));
    EXPECT_EQ(std::set<void*>(blocks.begin(), blocks.end()).size(), blocks.size()) << "a block handed out twice";
    for (size_t i = 0; i < blocks.size(); ++i) a.free(blocks[i], step[i]);
  }
  EXPECT_EQ(dev.mallocs, step.size()) << "after the first step every block is a cache hit";
  const cuda::DeviceAllocatorStats st = a.stats();
  EXPECT_EQ(st.allocations, 5 * step.size());
  EXPECT_EQ(st.cache_hits, 4 * step.size());
  EXPECT_EQ(st.device_allocs, step.size());
  EXPECT_EQ(st.bytes_in_use, 0u);
  size_t rounded = 0;
  for (size_t n : step) rounded += cuda::CachingAllocator::round_size(n);
  EXPECT_EQ(st.peak_bytes_in_use, rounded);
  EXPECT_EQ(st.cached_bytes, rounded);
  a.release_cache();
  EXPECT_EQ(dev.used, 0u);
  EXPECT_EQ(a.stats().device_frees, step.size());
}

TEST(DeviceMemory, RoundingKeepsSmallBlocksFineAndLargeOnesCoarse) {
  EXPECT_EQ(cuda::CachingAllocator::round_size(0), 512u);
  EXPECT_EQ(cuda::CachingAllocator::round_size(513), 1024u);
  EXPECT_EQ(cuda::CachingAllocator::round_size(1 << 20), size_t(1) << 20);
  EXPECT_EQ(cuda::CachingAllocator::round_size((1 << 20) + 1), (size_t(1) << 20) + (128 << 10));
}

TEST(DeviceMemory, AFullDeviceFirstGivesBackTheCacheThenSaysHowFull) {
  FakeDevice dev{4096};
  cuda::CachingAllocator a(dev.raw());
  void* p = a.allocate(2048);
  a.free(p, 2048);                      // cached: the device still holds 2048
  void* q = a.allocate(3072);           // fits only once the cache is given back
  EXPECT_NE(q, nullptr);
  EXPECT_EQ(a.stats().device_frees, 1u);
  EXPECT_TRUE(test::throws_error([&] { a.allocate(2048); }, "out of memory on fake:0: 2048 bytes asked for, 3072 in use"));
  a.free(q, 3072);
}

TEST(DeviceMemory, CudaTensorsWithoutAUsableGpuAreRefusedWithTheReason) {
  const cuda::CudaAvailability av = cuda::cuda_availability();
  if (!av.gpus.empty()) GTEST_SKIP() << "this machine has a GPU (tests/cuda covers it)";
  EXPECT_TRUE(test::throws_error([] { Tensor::empty({2}, DType::F32, Device::cuda(0)); }, "not available"));
  EXPECT_TRUE(test::throws_error([] { Tensor::zeros({2}).to(Device::cuda(1)); }, av.why_none));
  EXPECT_EQ(cuda::device_allocator_stats(Device::cuda(0)).allocations, 0u);
}

}  // namespace
}  // namespace signet
