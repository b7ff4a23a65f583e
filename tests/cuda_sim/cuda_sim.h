// cuda_sim: a CPU SIMT emulator that runs Signet's own CUDA kernels (engine/cuda/kernels/*.cuh)
// in tests, on machines without a GPU. It is a test tool, not a runtime: blocks run one after
// another on the calling OS thread, each CUDA thread of a block is a fiber that __syncthreads and
// the warp collectives suspend, and every shared-memory access is checked for races and bounds.
// Kernel sources reach it through engine/cuda/kernel_compat.h (built with -DSIGNET_CUDA_SIM).
// The built-ins keep CUDA's spelling so kernel bodies stay plain CUDA; see README.md here.
#pragma once

#include <math.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

namespace cuda_sim {

// CUDA's dim3: unspecified components default to 1.
struct dim3 {
  unsigned int x, y, z;
  constexpr dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1) : x(x_), y(y_), z(z_) {}
};

// Every problem the emulator finds: races, out-of-range shared indices, divergent barriers,
// collective deadlocks, invalid launches. Thrown out of launch() after all fibers are torn down.
class SimError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What threadIdx, blockIdx, blockDim and gridDim read in the running CUDA thread.
struct ThreadContext {
  dim3 thread_idx;
  dim3 block_idx;
  dim3 block_dim;
  dim3 grid_dim;
};

namespace detail {
extern thread_local ThreadContext* g_current_ctx;
[[noreturn]] void throw_outside_kernel(const char* what);

struct SharedRegion;  // one shared array of one block, with its race-check shadow
SharedRegion* static_region(const char* file, int line, int counter, const char* name,
                            std::size_t elements, std::size_t element_bytes);
SharedRegion* dynamic_region();
std::size_t region_bytes(const SharedRegion* region);
unsigned char* region_data(SharedRegion* region);
// Bounds and race check of one access to element `index` (of `element_bytes`) of a shared array;
// throws SimError naming the block, the threads and the array.
void on_shared_access(SharedRegion* region, const char* name, std::ptrdiff_t index,
                      std::size_t element_bytes, bool write);

enum class Collective { SyncWarp, Shfl, ShflUp, ShflDown, ShflXor, Ballot, Any, All };
struct CollectiveResult {
  std::uint64_t bits;
  bool undefined;  // a shuffle read a lane that did not take part: CUDA leaves the value undefined
};
// Suspends the calling lane until every lane of its warp named in `mask` arrives at the same
// collective; `bits` is this lane's value (or predicate), `arg` the source lane, delta or lane
// mask. Reports a deadlock (SimError) when a named lane exited or waits elsewhere.
CollectiveResult warp_collective(Collective kind, unsigned mask, std::uint64_t bits, int arg, int width);
unsigned active_mask();
void sync_threads(const char* file, int line);
void run_grid(dim3 grid, dim3 block, std::size_t dynamic_shared_bytes, const std::function<void()>& thread_body);
}  // namespace detail

inline ThreadContext& current() {
  if (detail::g_current_ctx == nullptr) detail::throw_outside_kernel("a CUDA built-in (threadIdx, blockIdx, ...)");
  return *detail::g_current_ctx;
}

// One element of a shared array. Reads and writes go through the race check; kernels neither
// take an element's address nor keep the proxy (`float v = s[i];`, not `auto v = s[i];`).
template <class T>
class SharedRef {
 public:
  SharedRef(detail::SharedRegion* region, const char* name, std::ptrdiff_t index)
      : region_(region), name_(name), index_(index) {}
  operator T() const { return load(); }
  SharedRef& operator=(T v) {
    store(v);
    return *this;
  }
  SharedRef& operator=(const SharedRef& other) { return *this = static_cast<T>(other); }
  SharedRef& operator+=(T v) { return *this = static_cast<T>(load() + v); }
  SharedRef& operator-=(T v) { return *this = static_cast<T>(load() - v); }
  SharedRef& operator*=(T v) { return *this = static_cast<T>(load() * v); }
  SharedRef& operator/=(T v) { return *this = static_cast<T>(load() / v); }
  SharedRef& operator|=(T v) { return *this = static_cast<T>(load() | v); }
  SharedRef& operator&=(T v) { return *this = static_cast<T>(load() & v); }
  SharedRef& operator^=(T v) { return *this = static_cast<T>(load() ^ v); }

 private:
  T load() const {
    detail::on_shared_access(region_, name_, index_, sizeof(T), false);
    T v;
    std::memcpy(&v, detail::region_data(region_) + index_ * sizeof(T), sizeof(T));
    return v;
  }
  void store(T v) {
    detail::on_shared_access(region_, name_, index_, sizeof(T), true);
    std::memcpy(detail::region_data(region_) + index_ * sizeof(T), &v, sizeof(T));
  }
  detail::SharedRegion* region_;
  const char* name_;
  std::ptrdiff_t index_;
};

// What SIGNET_SHARED / SIGNET_DYNAMIC_SHARED declare: a view of a block's shared array. Like the
// pointer nvcc gives, `s + k` is the view starting k elements further (partitions of dynamic
// shared memory). To pass one to a device helper, make the helper a template over the array.
template <class T>
class SharedArray {
 public:
  SharedArray(detail::SharedRegion* region, const char* name, std::ptrdiff_t offset = 0)
      : region_(region), name_(name), offset_(offset) {}
  SharedRef<T> operator[](std::ptrdiff_t i) const { return SharedRef<T>(region_, name_, offset_ + i); }
  SharedArray operator+(std::ptrdiff_t k) const { return SharedArray(region_, name_, offset_ + k); }
  std::size_t size() const { return detail::region_bytes(region_) / sizeof(T) - offset_; }

 private:
  detail::SharedRegion* region_;
  const char* name_;
  std::ptrdiff_t offset_;
};

template <class T>
SharedArray<T> static_shared(const char* file, int line, int counter, const char* name, std::size_t count) {
  return SharedArray<T>(detail::static_region(file, line, counter, name, count, sizeof(T)), name);
}
template <class T>
SharedArray<T> dynamic_shared(const char* name) {
  return SharedArray<T>(detail::dynamic_region(), name);
}

namespace detail {
template <class T>
T shuffle(Collective kind, unsigned mask, T var, int arg, int width) {
  static_assert(std::is_arithmetic_v<T> && sizeof(T) <= 8, "warp shuffles move arithmetic values of up to 8 bytes");
  std::uint64_t bits = 0;
  std::memcpy(&bits, &var, sizeof(T));
  CollectiveResult r = warp_collective(kind, mask, bits, arg, width);
  if (r.undefined) {
    // A value a test cannot mistake for a result: NaN, or an odd bit pattern for integers.
    if constexpr (std::is_floating_point_v<T>) return std::numeric_limits<T>::quiet_NaN();
    r.bits = 0xBADC0FFEE0DDF00Dull;
  }
  T out;
  std::memcpy(&out, &r.bits, sizeof(T));
  return out;
}
}  // namespace detail

// Runs `kernel` for every thread of every block of `grid` x `block`, blocks one after another in
// x-fastest order. Arguments are converted to the kernel's parameter types once, as a CUDA launch
// copies them. Throws SimError for an invalid configuration or anything found while running, and
// rethrows an exception a kernel body threw, after tearing down the block's threads.
template <class... Params, class... Args>
void launch(void (*kernel)(Params...), dim3 grid, dim3 block, std::size_t dynamic_shared_bytes, Args&&... args) {
  static_assert(sizeof...(Params) == sizeof...(Args), "launch: argument count differs from the kernel's parameters");
  std::tuple<std::decay_t<Params>...> params(std::forward<Args>(args)...);
  detail::run_grid(grid, block, dynamic_shared_bytes, [&] { std::apply(kernel, params); });
}

}  // namespace cuda_sim

// ---- CUDA spellings, at global scope as in CUDA ----------------------------------------------
using cuda_sim::dim3;
constexpr int warpSize = 32;

#define threadIdx (::cuda_sim::current().thread_idx)
#define blockIdx (::cuda_sim::current().block_idx)
#define blockDim (::cuda_sim::current().block_dim)
#define gridDim (::cuda_sim::current().grid_dim)

// static: a kernel header (.cuh) may be included by several kernel test files, and the program
// also links the nvcc-built library, whose host-side launcher of each __global__ kernel has the
// kernel's own name; with external linkage the linker may pick that launcher, which runs on a GPU.
#define SIGNET_KERNEL static inline void
#define SIGNET_DEVICE inline
#define SIGNET_HOST_DEVICE inline
// Storage is per block and per declaration site: __COUNTER__ tells apart two declarations a
// macro puts on one line.
#define SIGNET_SHARED(type, name, count) \
  ::cuda_sim::SharedArray<type> name = ::cuda_sim::static_shared<type>(__FILE__, __LINE__, __COUNTER__, #name, (count))
#define SIGNET_DYNAMIC_SHARED(type, name) ::cuda_sim::SharedArray<type> name = ::cuda_sim::dynamic_shared<type>(#name)

#ifndef __restrict__
#define __restrict__ __restrict
#endif

// The barrier's call site tells "another __syncthreads" from "this one" in divergence reports.
#define __syncthreads() ::cuda_sim::detail::sync_threads(__FILE__, __LINE__)

inline void __syncwarp(unsigned mask = 0xffffffffu) {
  ::cuda_sim::detail::warp_collective(::cuda_sim::detail::Collective::SyncWarp, mask, 0, 0, 32);
}
// The lanes of the caller's warp that reach this __activemask together: the emulator lets every
// lane of the warp run as far as it can first, so lanes that exited or wait elsewhere are out.
// It does not synchronise (orders no shared-memory accesses), as in CUDA.
inline unsigned __activemask() { return ::cuda_sim::detail::active_mask(); }

template <class T>
T __shfl_sync(unsigned mask, T var, int srcLane, int width = warpSize) {
  return ::cuda_sim::detail::shuffle(::cuda_sim::detail::Collective::Shfl, mask, var, srcLane, width);
}
template <class T>
T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = warpSize) {
  return ::cuda_sim::detail::shuffle(::cuda_sim::detail::Collective::ShflUp, mask, var, static_cast<int>(delta), width);
}
template <class T>
T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = warpSize) {
  return ::cuda_sim::detail::shuffle(::cuda_sim::detail::Collective::ShflDown, mask, var, static_cast<int>(delta), width);
}
template <class T>
T __shfl_xor_sync(unsigned mask, T var, int laneMask, int width = warpSize) {
  return ::cuda_sim::detail::shuffle(::cuda_sim::detail::Collective::ShflXor, mask, var, laneMask, width);
}
inline unsigned __ballot_sync(unsigned mask, int predicate) {
  return static_cast<unsigned>(
      ::cuda_sim::detail::warp_collective(::cuda_sim::detail::Collective::Ballot, mask, predicate != 0, 0, 32).bits);
}
inline int __any_sync(unsigned mask, int predicate) {
  return static_cast<int>(
      ::cuda_sim::detail::warp_collective(::cuda_sim::detail::Collective::Any, mask, predicate != 0, 0, 32).bits);
}
inline int __all_sync(unsigned mask, int predicate) {
  return static_cast<int>(
      ::cuda_sim::detail::warp_collective(::cuda_sim::detail::Collective::All, mask, predicate != 0, 0, 32).bits);
}

#include "tests/cuda_sim/cuda_sim_builtins.h"
