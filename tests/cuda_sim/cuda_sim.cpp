// cuda_sim: the scheduler. Each CUDA thread of a block is a ucontext fiber; the scheduler runs
// every runnable fiber until it finishes or suspends at __syncthreads or a warp collective, then
// completes whatever barrier or collective every participant has reached. When nothing can move,
// the block is stuck: that is reported as a divergent barrier or a collective deadlock.
#include <sys/mman.h>

#include <sstream>

#include "tests/cuda_sim/cuda_sim_internal.h"

// AddressSanitizer must be told about stack switches, or it reports false errors on them.
#if defined(__SANITIZE_ADDRESS__)
#define CUDA_SIM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CUDA_SIM_ASAN 1
#endif
#endif
#ifdef CUDA_SIM_ASAN
extern "C" void __sanitizer_start_switch_fiber(void** fake_stack_save, const void* bottom, std::size_t size);
extern "C" void __sanitizer_finish_switch_fiber(void* fake_stack_save, const void** bottom_old, std::size_t* size_old);
#endif

namespace cuda_sim::detail {

thread_local ThreadContext* g_current_ctx = nullptr;
thread_local LaunchRun* g_run = nullptr;
thread_local SimThread* g_thread = nullptr;

namespace {

// Kernels here are shallow; the stacks are reserved, not committed, until touched.
constexpr std::size_t kStackBytes = 256 * 1024;
constexpr std::size_t kGuardBytes = 4096;

// Thrown into a suspended fiber to unwind its stack (running its destructors) when the launch
// stops early; not derived from std::exception so kernel code does not catch it by accident.
struct Unwind {};

// Stacks outlive launches: a block of 1024 threads would otherwise map 1024 stacks per launch.
struct StackPool {
  std::vector<void*> stacks;
  ~StackPool() {
    for (void* s : stacks) munmap(s, kStackBytes + kGuardBytes);
  }
  void* get(std::size_t i) {
    while (stacks.size() <= i) {
      void* p = mmap(nullptr, kStackBytes + kGuardBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (p == MAP_FAILED) throw SimError("cuda_sim: cannot map a fiber stack");
      // A guard page below the stack turns an overflow into a crash instead of corruption.
      mprotect(p, kGuardBytes, PROT_NONE);
      stacks.push_back(p);
    }
    return static_cast<char*>(stacks[i]) + kGuardBytes;
  }
};
thread_local StackPool g_stacks;

#ifdef CUDA_SIM_ASAN
thread_local const void* g_scheduler_stack_bottom = nullptr;
thread_local std::size_t g_scheduler_stack_size = 0;
#endif

const char* collective_name(Collective k) {
  switch (k) {
    case Collective::SyncWarp: return "__syncwarp";
    case Collective::Shfl: return "__shfl_sync";
    case Collective::ShflUp: return "__shfl_up_sync";
    case Collective::ShflDown: return "__shfl_down_sync";
    case Collective::ShflXor: return "__shfl_xor_sync";
    case Collective::Ballot: return "__ballot_sync";
    case Collective::Any: return "__any_sync";
    case Collective::All: return "__all_sync";
  }
  return "a warp collective";
}

std::string hex(unsigned mask) {
  std::ostringstream s;
  s << "0x" << std::hex << mask;
  return s.str();
}

std::string describe_wait(const SimThread& t) {
  std::ostringstream s;
  if (t.state == ThreadState::AtBarrier) {
    s << "waits at __syncthreads (" << t.barrier_file << ":" << t.barrier_line << ")";
  } else if (t.state == ThreadState::AtCollective) {
    s << "waits at " << collective_name(t.pending.kind) << " with mask " << hex(t.pending.mask);
  } else if (t.state == ThreadState::AtActiveMask) {
    s << "waits at __activemask";
  } else if (t.state == ThreadState::Finished) {
    s << "has exited";
  } else {
    s << "is running";
  }
  return s.str();
}

void fiber_main() {
#ifdef CUDA_SIM_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &g_scheduler_stack_bottom, &g_scheduler_stack_size);
#endif
  LaunchRun& run = *g_run;
  SimThread& t = *g_thread;
  try {
    (*run.body)();
  } catch (const Unwind&) {
  } catch (...) {
    if (!run.failure) run.failure = std::current_exception();
  }
  t.state = ThreadState::Finished;
#ifdef CUDA_SIM_ASAN
  __sanitizer_start_switch_fiber(nullptr, g_scheduler_stack_bottom, g_scheduler_stack_size);
#endif
  swapcontext(&t.context, &run.scheduler);
}

void switch_to(LaunchRun& run, SimThread& t) {
  if (t.state == ThreadState::NotStarted) {
    getcontext(&t.context);
    t.context.uc_stack.ss_sp = t.stack;
    t.context.uc_stack.ss_size = t.stack_bytes;
    t.context.uc_link = nullptr;
    makecontext(&t.context, fiber_main, 0);
  }
  t.state = ThreadState::Runnable;
  g_thread = &t;
  g_current_ctx = &t.ctx;
#ifdef CUDA_SIM_ASAN
  void* fake = nullptr;
  __sanitizer_start_switch_fiber(&fake, t.stack, t.stack_bytes);
#endif
  swapcontext(&run.scheduler, &t.context);
#ifdef CUDA_SIM_ASAN
  __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
  g_thread = nullptr;
  g_current_ctx = nullptr;
}

// Called in a fiber whose state says what it waits for; returns once the scheduler resumes it.
void suspend(SimThread& t) {
  LaunchRun& run = *g_run;
#ifdef CUDA_SIM_ASAN
  __sanitizer_start_switch_fiber(&t.asan_fake_stack, g_scheduler_stack_bottom, g_scheduler_stack_size);
#endif
  swapcontext(&t.context, &run.scheduler);
#ifdef CUDA_SIM_ASAN
  __sanitizer_finish_switch_fiber(t.asan_fake_stack, &g_scheduler_stack_bottom, &g_scheduler_stack_size);
#endif
  if (run.unwinding) throw Unwind{};
}

// Answers __activemask once every lane of the warp has run as far as it can: the lanes that
// reached it are the converged ones; those that exited or wait elsewhere have diverged.
bool complete_active_masks(LaunchRun& run) {
  std::vector<unsigned> converged((run.threads.size() + kWarpSize - 1) / kWarpSize, 0);
  for (const SimThread& t : run.threads) {
    if (t.state == ThreadState::AtActiveMask) converged[t.warp] |= 1u << t.lane;
  }
  bool progressed = false;
  for (SimThread& t : run.threads) {
    if (t.state != ThreadState::AtActiveMask) continue;
    t.pending.result = CollectiveResult{converged[t.warp], false};
    t.state = ThreadState::Runnable;
    progressed = true;
  }
  return progressed;
}

// Completes every warp collective all of whose named lanes have arrived; false if none could.
bool complete_collectives(LaunchRun& run) {
  bool progressed = false;
  const unsigned n = static_cast<unsigned>(run.threads.size());
  for (SimThread& first : run.threads) {
    if (first.state != ThreadState::AtCollective) continue;
    const PendingCollective& p = first.pending;
    const unsigned base = first.warp * kWarpSize;
    bool complete = true;
    for (unsigned l = 0; l < kWarpSize && complete; ++l) {
      if (!(p.mask >> l & 1u)) continue;
      if (base + l >= n) {
        complete = false;
        break;
      }
      const SimThread& o = run.threads[base + l];
      complete = o.state == ThreadState::AtCollective && o.pending.kind == p.kind && o.pending.mask == p.mask;
    }
    if (!complete) continue;
    const Collective kind = p.kind;
    const unsigned mask = p.mask;
    unsigned ballot = 0;
    std::array<std::uint32_t, kWarpSize> merged{};
    for (unsigned l = 0; l < kWarpSize; ++l) {
      if (!(mask >> l & 1u)) continue;
      SimThread& o = run.threads[base + l];
      if (o.pending.bits != 0) ballot |= 1u << l;
      ++o.clock[l];
      for (unsigned k = 0; k < kWarpSize; ++k) merged[k] = std::max(merged[k], o.clock[k]);
    }
    for (unsigned l = 0; l < kWarpSize; ++l) {
      if (!(mask >> l & 1u)) continue;
      SimThread& o = run.threads[base + l];
      o.clock = merged;
      CollectiveResult r{0, false};
      const int w = o.pending.width;
      const int section = static_cast<int>(l) & ~(w - 1);
      const int pos = static_cast<int>(l) - section;
      int src = static_cast<int>(l);
      switch (kind) {
        case Collective::SyncWarp: break;
        case Collective::Ballot: r.bits = ballot; break;
        case Collective::Any: r.bits = ballot != 0; break;
        case Collective::All: r.bits = ballot == mask; break;
        case Collective::Shfl: src = section + (o.pending.arg & (w - 1)); break;
        case Collective::ShflUp: src = pos - o.pending.arg >= 0 ? static_cast<int>(l) - o.pending.arg : src; break;
        case Collective::ShflDown: src = pos + o.pending.arg < w ? static_cast<int>(l) + o.pending.arg : src; break;
        case Collective::ShflXor: {
          const int x = static_cast<int>(l) ^ o.pending.arg;
          src = (x >= section && x < section + w) ? x : src;
          break;
        }
      }
      if (kind == Collective::Shfl || kind == Collective::ShflUp || kind == Collective::ShflDown ||
          kind == Collective::ShflXor) {
        if (src < 0 || src >= static_cast<int>(kWarpSize) || !(mask >> src & 1u)) {
          r.undefined = true;
        } else {
          r.bits = run.threads[base + src].pending.bits;
        }
      }
      o.pending.result = r;
    }
    for (unsigned l = 0; l < kWarpSize; ++l) {
      if (mask >> l & 1u) run.threads[base + l].state = ThreadState::Runnable;
    }
    progressed = true;
  }
  return progressed;
}

// Releases the block's barrier when every thread waits at the same __syncthreads.
bool complete_barrier(LaunchRun& run) {
  const SimThread& first = run.threads.front();
  for (const SimThread& t : run.threads) {
    if (t.state != ThreadState::AtBarrier || t.barrier_file != first.barrier_file || t.barrier_line != first.barrier_line) {
      return false;
    }
  }
  for (SimThread& t : run.threads) t.state = ThreadState::Runnable;
  ++run.epoch;
  return true;
}

// Nothing can move and some thread still waits: say why, naming the threads involved.
SimError stuck_error(const LaunchRun& run) {
  const unsigned n = static_cast<unsigned>(run.threads.size());
  std::ostringstream s;
  for (const SimThread& t : run.threads) {
    if (t.state != ThreadState::AtCollective) continue;
    const unsigned base = t.warp * kWarpSize;
    for (unsigned l = 0; l < kWarpSize; ++l) {
      if (!(t.pending.mask >> l & 1u)) continue;
      s << "collective deadlock in " << describe_block(run) << ": " << describe_thread(t) << " " << describe_wait(t)
        << ", but lane " << l << " of warp " << t.warp;
      if (base + l >= n) {
        s << " does not exist (the block has " << n << " threads)";
        return SimError(s.str());
      }
      const SimThread& o = run.threads[base + l];
      if (o.state != ThreadState::AtCollective || o.pending.kind != t.pending.kind || o.pending.mask != t.pending.mask) {
        s << ", " << describe_thread(o) << ", " << describe_wait(o);
        return SimError(s.str());
      }
      s.str("");
    }
  }
  const SimThread* waiting = nullptr;
  for (const SimThread& t : run.threads) {
    if (t.state == ThreadState::AtBarrier) {
      waiting = &t;
      break;
    }
  }
  for (const SimThread& t : run.threads) {
    if (waiting && (t.state != ThreadState::AtBarrier || t.barrier_line != waiting->barrier_line ||
                    t.barrier_file != waiting->barrier_file)) {
      s << "divergent __syncthreads in " << describe_block(run) << ": " << describe_thread(*waiting) << " "
        << describe_wait(*waiting) << ", but " << describe_thread(t) << " " << describe_wait(t);
      return SimError(s.str());
    }
  }
  return SimError("cuda_sim: block " + describe_block(run) + " is stuck for no reason the scheduler knows");
}

void unwind_all(LaunchRun& run) {
  run.unwinding = true;
  for (SimThread& t : run.threads) {
    if (t.state == ThreadState::NotStarted) {
      t.state = ThreadState::Finished;
    } else if (t.state != ThreadState::Finished) {
      switch_to(run, t);
    }
  }
  run.unwinding = false;
}

void run_block(LaunchRun& run) {
  ++run.block_serial;
  ++run.epoch;
  for (SimThread& t : run.threads) {
    t.ctx.block_idx = run.block_idx;
    t.state = ThreadState::NotStarted;
    t.clock.fill(0);
  }
  for (;;) {
    for (SimThread& t : run.threads) {
      if (t.state == ThreadState::NotStarted || t.state == ThreadState::Runnable) switch_to(run, t);
      if (run.failure) break;
    }
    if (run.failure) break;
    bool all_done = true;
    for (const SimThread& t : run.threads) all_done = all_done && t.state == ThreadState::Finished;
    if (all_done) return;
    if (complete_active_masks(run) || complete_collectives(run) || complete_barrier(run)) continue;
    run.failure = std::make_exception_ptr(stuck_error(run));
    break;
  }
  unwind_all(run);
  std::rethrow_exception(run.failure);
}

void validate(dim3 grid, dim3 block, std::size_t dynamic_bytes) {
  auto text = [](dim3 d) {
    return "(" + std::to_string(d.x) + "," + std::to_string(d.y) + "," + std::to_string(d.z) + ")";
  };
  const unsigned long long threads = 1ull * block.x * block.y * block.z;
  if (block.x == 0 || block.y == 0 || block.z == 0 || block.x > 1024 || block.y > 1024 || block.z > 64 ||
      threads > 1024) {
    throw SimError("invalid configuration argument: block " + text(block) + " (" + std::to_string(threads) +
                   " threads); each dimension must be positive, x and y at most 1024, z at most 64, and the "
                   "block at most 1024 threads");
  }
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.x > 2147483647u || grid.y > 65535 || grid.z > 65535) {
    throw SimError("invalid configuration argument: grid " + text(grid) +
                   "; each dimension must be positive, x below 2^31, y and z at most 65535");
  }
  if (dynamic_bytes > 48 * 1024) {
    throw SimError("invalid argument: " + std::to_string(dynamic_bytes) +
                   " bytes of dynamic shared memory; a launch without the opt-in attribute gets at most 48 KiB");
  }
}

}  // namespace

[[noreturn]] void throw_outside_kernel(const char* what) {
  throw SimError(std::string("cuda_sim: ") + what + " used outside a kernel launched with cuda_sim::launch");
}

SimThread& running_thread(const char* what) {
  if (g_thread == nullptr) throw_outside_kernel(what);
  return *g_thread;
}

std::string describe_block(const LaunchRun& run) {
  return "block (" + std::to_string(run.block_idx.x) + "," + std::to_string(run.block_idx.y) + "," +
         std::to_string(run.block_idx.z) + ")";
}

std::string describe_thread(const SimThread& t) {
  return "thread (" + std::to_string(t.ctx.thread_idx.x) + "," + std::to_string(t.ctx.thread_idx.y) + "," +
         std::to_string(t.ctx.thread_idx.z) + ") [lane " + std::to_string(t.lane) + " of warp " +
         std::to_string(t.warp) + "]";
}

CollectiveResult warp_collective(Collective kind, unsigned mask, std::uint64_t bits, int arg, int width) {
  SimThread& t = running_thread(collective_name(kind));
  if (!(mask >> t.lane & 1u)) {
    throw SimError(std::string(collective_name(kind)) + " in " + describe_block(*g_run) + ": " + describe_thread(t) +
                   " calls it with mask " + hex(mask) + ", which does not name the calling lane");
  }
  if (width <= 0 || width > 32 || (width & (width - 1)) != 0) {
    throw SimError(std::string(collective_name(kind)) + " in " + describe_block(*g_run) + ": width " +
                   std::to_string(width) + " is not a power of two from 1 to 32");
  }
  t.pending = PendingCollective{kind, mask, bits, arg, width, {0, false}};
  t.state = ThreadState::AtCollective;
  suspend(t);
  return t.pending.result;
}

unsigned active_mask() {
  SimThread& t = running_thread("__activemask");
  t.state = ThreadState::AtActiveMask;
  suspend(t);
  return static_cast<unsigned>(t.pending.result.bits);
}

void sync_threads(const char* file, int line) {
  SimThread& t = running_thread("__syncthreads");
  t.barrier_file = file;
  t.barrier_line = line;
  t.state = ThreadState::AtBarrier;
  suspend(t);
}

void run_grid(dim3 grid, dim3 block, std::size_t dynamic_shared_bytes, const std::function<void()>& thread_body) {
  if (g_run != nullptr) throw SimError("cuda_sim: launch from inside a kernel is not supported");
  validate(grid, block, dynamic_shared_bytes);
  LaunchRun run;
  run.grid = grid;
  run.block = block;
  run.dynamic_bytes = dynamic_shared_bytes;
  run.body = &thread_body;
  const unsigned n = block.x * block.y * block.z;
  run.threads.resize(n);
  for (unsigned i = 0; i < n; ++i) {
    SimThread& t = run.threads[i];
    t.linear = i;
    t.warp = i / kWarpSize;
    t.lane = i % kWarpSize;
    t.ctx.thread_idx = dim3(i % block.x, i / block.x % block.y, i / (block.x * block.y));
    t.ctx.block_dim = block;
    t.ctx.grid_dim = grid;
    t.stack = g_stacks.get(i);
    t.stack_bytes = kStackBytes;
  }
  g_run = &run;
  try {
    for (unsigned z = 0; z < grid.z; ++z) {
      for (unsigned y = 0; y < grid.y; ++y) {
        for (unsigned x = 0; x < grid.x; ++x) {
          run.block_idx = dim3(x, y, z);
          run_block(run);
        }
      }
    }
  } catch (...) {
    g_run = nullptr;
    throw;
  }
  g_run = nullptr;
}

}  // namespace cuda_sim::detail
