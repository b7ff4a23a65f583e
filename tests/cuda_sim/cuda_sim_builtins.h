// cuda_sim: the atomics and math spellings CUDA device code has and host C++ lacks. Included by
// cuda_sim.h; kernels include engine/cuda/kernel_compat.h, never this file.
#pragma once

#include <math.h>

#include <cmath>
#include <cstdint>
#include <cstring>

// ---- Atomics on global memory ------------------------------------------------------------------
// Blocks run one after another on one OS thread and a fiber switches only at __syncthreads or a
// warp collective, so a plain read-modify-write is atomic here.
#define CUDA_SIM_ATOMIC(T, name, update) \
  inline T name(T* address, T val) {     \
    T old = *address;                    \
    *address = (update);                 \
    return old;                          \
  }
CUDA_SIM_ATOMIC(int, atomicAdd, old + val)
CUDA_SIM_ATOMIC(unsigned int, atomicAdd, old + val)
CUDA_SIM_ATOMIC(unsigned long long, atomicAdd, old + val)
CUDA_SIM_ATOMIC(float, atomicAdd, old + val)
CUDA_SIM_ATOMIC(double, atomicAdd, old + val)
CUDA_SIM_ATOMIC(int, atomicSub, old - val)
CUDA_SIM_ATOMIC(unsigned int, atomicSub, old - val)
CUDA_SIM_ATOMIC(int, atomicMax, old < val ? val : old)
CUDA_SIM_ATOMIC(unsigned int, atomicMax, old < val ? val : old)
CUDA_SIM_ATOMIC(unsigned long long, atomicMax, old < val ? val : old)
CUDA_SIM_ATOMIC(int, atomicMin, val < old ? val : old)
CUDA_SIM_ATOMIC(unsigned int, atomicMin, val < old ? val : old)
CUDA_SIM_ATOMIC(unsigned long long, atomicMin, val < old ? val : old)
CUDA_SIM_ATOMIC(int, atomicExch, val)
CUDA_SIM_ATOMIC(unsigned int, atomicExch, val)
CUDA_SIM_ATOMIC(unsigned long long, atomicExch, val)
CUDA_SIM_ATOMIC(float, atomicExch, val)
CUDA_SIM_ATOMIC(int, atomicAnd, old & val)
CUDA_SIM_ATOMIC(unsigned int, atomicAnd, old & val)
CUDA_SIM_ATOMIC(int, atomicOr, old | val)
CUDA_SIM_ATOMIC(unsigned int, atomicOr, old | val)
#undef CUDA_SIM_ATOMIC

#define CUDA_SIM_ATOMIC_CAS(T)                           \
  inline T atomicCAS(T* address, T compare, T val) {     \
    T old = *address;                                    \
    if (old == compare) *address = val;                  \
    return old;                                          \
  }
CUDA_SIM_ATOMIC_CAS(int)
CUDA_SIM_ATOMIC_CAS(unsigned int)
CUDA_SIM_ATOMIC_CAS(unsigned long long)
#undef CUDA_SIM_ATOMIC_CAS

// ---- Math and bit intrinsics -------------------------------------------------------------------
// glibc declares __expf and __logf itself, so these two are macros rather than overloads.
namespace cuda_sim::intrinsics {
inline float fast_exp(float x) { return std::exp(x); }
inline float fast_log(float x) { return std::log(x); }
}  // namespace cuda_sim::intrinsics
#define __expf(x) ::cuda_sim::intrinsics::fast_exp(x)
#define __logf(x) ::cuda_sim::intrinsics::fast_log(x)

inline float __fdividef(float a, float b) { return a / b; }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
template <class T>
T __ldg(const T* p) {
  return *p;
}
// Round to nearest, ties to even, as the _rn suffix says (the default floating-point mode).
inline int __float2int_rn(float x) { return static_cast<int>(std::nearbyint(x)); }
inline float __int_as_float(int i) {
  float f;
  std::memcpy(&f, &i, sizeof f);
  return f;
}
inline int __float_as_int(float f) {
  int i;
  std::memcpy(&i, &f, sizeof i);
  return i;
}
inline unsigned int __float_as_uint(float f) {
  unsigned int u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
inline float __uint_as_float(unsigned int u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
inline unsigned int __umulhi(unsigned int a, unsigned int b) {
  return static_cast<unsigned int>((static_cast<std::uint64_t>(a) * b) >> 32);
}
inline int __popc(unsigned int x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __ffsll(long long x) { return __builtin_ffsll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(static_cast<unsigned int>(x)); }
inline int __clzll(long long x) { return x == 0 ? 64 : __builtin_clzll(static_cast<unsigned long long>(x)); }

// CUDA's global min/max overloads (math_functions.hpp), mixed signedness included as there.
#define CUDA_SIM_MIN_MAX(R, A, B)                          \
  inline R min(A a, B b) { return static_cast<R>(a) < static_cast<R>(b) ? static_cast<R>(a) : static_cast<R>(b); } \
  inline R max(A a, B b) { return static_cast<R>(a) < static_cast<R>(b) ? static_cast<R>(b) : static_cast<R>(a); }
CUDA_SIM_MIN_MAX(int, int, int)
CUDA_SIM_MIN_MAX(unsigned int, unsigned int, unsigned int)
CUDA_SIM_MIN_MAX(unsigned int, int, unsigned int)
CUDA_SIM_MIN_MAX(unsigned int, unsigned int, int)
CUDA_SIM_MIN_MAX(long long, long long, long long)
CUDA_SIM_MIN_MAX(unsigned long long, unsigned long long, unsigned long long)
CUDA_SIM_MIN_MAX(float, float, float)
CUDA_SIM_MIN_MAX(double, double, double)
#undef CUDA_SIM_MIN_MAX
