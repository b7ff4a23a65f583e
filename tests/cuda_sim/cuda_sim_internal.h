// cuda_sim internals shared by the scheduler (cuda_sim.cpp) and the shared-memory checker
// (cuda_sim_shared.cpp). Not for kernels or tests.
#pragma once

#include <ucontext.h>

#include <array>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "tests/cuda_sim/cuda_sim.h"

namespace cuda_sim::detail {

constexpr unsigned kWarpSize = 32;

enum class ThreadState { NotStarted, Runnable, AtBarrier, AtCollective, AtActiveMask, Finished };

// The collective a lane is suspended at, and (once every named lane arrived) its result.
struct PendingCollective {
  Collective kind = Collective::SyncWarp;
  unsigned mask = 0;
  std::uint64_t bits = 0;
  int arg = 0;
  int width = 32;
  CollectiveResult result{0, false};
};

struct SimThread {
  ThreadContext ctx;
  unsigned linear = 0;  // x-fastest index within the block, as CUDA numbers warps
  unsigned warp = 0;
  unsigned lane = 0;
  ThreadState state = ThreadState::NotStarted;
  const char* barrier_file = nullptr;
  int barrier_line = 0;
  PendingCollective pending;
  // Vector clock over the lanes of this thread's warp: a __syncwarp or collective both lanes
  // took part in orders their shared-memory accesses (__syncthreads orders everything).
  std::array<std::uint32_t, kWarpSize> clock{};
  ucontext_t context;
  void* stack = nullptr;
  std::size_t stack_bytes = 0;
  void* asan_fake_stack = nullptr;
};

// Race-check record of one shared word since the last barrier (valid while epoch matches).
struct WordShadow {
  std::uint64_t epoch = 0;
  std::int32_t writer = -1;
  std::uint32_t writer_clock = 0;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> readers;  // (thread, clock)
};

struct SharedRegion {
  std::string name;
  const char* file = nullptr;
  int line = 0;
  bool dynamic = false;
  std::size_t bytes = 0;
  std::size_t unit_bytes = 4;  // race-check granularity: the element size, 4 bytes for dynamic
  std::vector<std::max_align_t> storage;
  std::vector<WordShadow> shadow;
  std::uint64_t block_serial = 0;  // the block whose contents these are (stale: re-poisoned)
};

// One launch in progress on this OS thread.
struct LaunchRun {
  dim3 grid, block;
  std::size_t dynamic_bytes = 0;
  const std::function<void()>* body = nullptr;
  std::vector<SimThread> threads;
  dim3 block_idx;
  std::uint64_t block_serial = 0;
  std::uint64_t epoch = 0;  // bumped at every block start and every completed __syncthreads
  std::map<std::tuple<const char*, int, int>, std::unique_ptr<SharedRegion>> static_regions;
  std::unique_ptr<SharedRegion> dynamic_region;
  std::exception_ptr failure;
  bool unwinding = false;
  ucontext_t scheduler;
};

extern thread_local LaunchRun* g_run;
extern thread_local SimThread* g_thread;

// The running CUDA thread; SimError when called outside a kernel.
SimThread& running_thread(const char* what);
std::string describe_block(const LaunchRun& run);
std::string describe_thread(const SimThread& t);

}  // namespace cuda_sim::detail
