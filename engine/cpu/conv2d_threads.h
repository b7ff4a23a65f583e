// How the fast convolutions (conv2d_gemm_cpu.cpp, conv2d_direct_cpu.cpp,
// conv2d_winograd*_cpu.cpp) share out their work over the OpenMP threads. Internal.
#pragma once
#include <omp.h>

#include <cstdint>
#include <type_traits>

#include "engine/ops/conv2d.h"
#include "engine/cpu/gemm_blocked.h"

namespace signet::cpu::conv_split {

// Threads for a convolution: one inside another parallel region or below ~1 MFLOP (waking
// the pool costs more), else all of them.
inline int threads(const Conv2dGeom& g) {
  if (omp_in_parallel()) return 1;
  const double flops = 2.0 * g.N * g.O * g.Ho * g.Wo * g.C * g.kh * g.kw;
  return flops < 1.0e6 ? 1 : omp_get_max_threads();
}

// Whole images per thread balance when the batch divides evenly or is large.
inline bool splits_evenly(const Conv2dGeom& g, int T) { return T == 1 || g.N % T == 0 || g.N >= 4 * T; }
inline bool by_image(const Conv2dGeom& g, int T) { return T > 1 && splits_evenly(g, T); }

// body(n0, count, t) for an even split of the batch over up to T threads; returns how many ran.
template <class Body>
int for_each_share(const Conv2dGeom& g, int T, Body&& body) {
  int team = 1;
#pragma omp parallel num_threads(T) if (T > 1)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    if (t == 0) team = nt;
    const int64_t n0 = g.N * t / nt, n1 = g.N * (t + 1) / nt;
    body(n0, n1 - n0, t);
  }
  return team;
}

// fn(std::integral_constant<int, MR>) with the register-tile height for M rows split over
// `threads` threads (gemm::choose_mr).
template <class Fn>
void with_mr(int64_t M, int threads, Fn&& fn) {
  if (gemm::choose_mr(M, threads) == 12)
    fn(std::integral_constant<int, 12>{});
  else
    fn(std::integral_constant<int, 8>{});
}

}  // namespace signet::cpu::conv_split
