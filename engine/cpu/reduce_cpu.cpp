#include "engine/ops/dispatch.h"
#include "engine/ops/reduce.h"

namespace signet::cpu {

void sum_middle_ref(const float* x, float* out, int64_t outer, int64_t n, int64_t inner) {
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      double acc = 0;
      for (int64_t k = 0; k < n; ++k) acc += x[(o * n + k) * inner + i];
      out[o * inner + i] = static_cast<float>(acc);
    }
}

void sum_middle_fast(const float* x, float* out, int64_t outer, int64_t n, int64_t inner) {
  const bool par = outer * n * inner >= kParallelGrain;
  if (inner == 1) {
    // Reduce contiguous rows: a simd dot with an accumulator per lane.
#pragma omp parallel for if (par && outer > 1) schedule(static)
    for (int64_t o = 0; o < outer; ++o) {
      const float* row = x + o * n;
      float acc = 0;
#pragma omp simd reduction(+ : acc)
      for (int64_t k = 0; k < n; ++k) acc += row[k];
      out[o] = acc;
    }
    return;
  }
  // Reduce across rows ([n, inner] per outer): accumulate row by row, vectorised along inner.
  // Parallel over inner column blocks so that two threads never write the same output.
  for (int64_t o = 0; o < outer; ++o) {
    const float* base = x + o * n * inner;
    float* dst = out + o * inner;
    const int64_t block = 256;
    const int64_t nblocks = (inner + block - 1) / block;
#pragma omp parallel for if (par && nblocks > 1) schedule(static)
    for (int64_t bi = 0; bi < nblocks; ++bi) {
      const int64_t i0 = bi * block, i1 = std::min(inner, i0 + block);
      float acc[256];
      for (int64_t i = i0; i < i1; ++i) acc[i - i0] = 0;
      for (int64_t k = 0; k < n; ++k) {
        const float* row = base + k * inner;
#pragma omp simd
        for (int64_t i = i0; i < i1; ++i) acc[i - i0] += row[i];
      }
      for (int64_t i = i0; i < i1; ++i) dst[i] = acc[i - i0];
    }
  }
}

}  // namespace signet::cpu
