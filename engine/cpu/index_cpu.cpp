// The indexing ops' CPU loops (engine/ops/index.h). Tensors are viewed as [outer, n, inner]
// around the indexed dim; the ops check every index first (first_outside), so these loops
// read only valid rows. Memory-bound gathers: a plain loop is both the reference and fast enough.
#include <cstring>

#include "engine/ops/dispatch.h"
#include "engine/ops/index.h"

namespace signet::cpu {

int64_t first_outside(const int64_t* v, int64_t count, int64_t n) {
  for (int64_t k = 0; k < count; ++k)
    if (v[k] < 0 || v[k] >= n) return k;
  return -1;
}

void index_select(const char* src, char* dst, const int64_t* idx, const IndexView& s, int64_t K, size_t es) {
#pragma omp parallel for collapse(2) if (s.outer * K * s.inner >= kParallelGrain)
  for (int64_t o = 0; o < s.outer; ++o)
    for (int64_t k = 0; k < K; ++k)
      std::memcpy(dst + ((o * K + k) * s.inner) * es, src + ((o * s.n + idx[k]) * s.inner) * es, s.inner * es);
}

void index_add(float* out, const float* src, const int64_t* idx, const IndexView& s, int64_t K) {
  for (int64_t o = 0; o < s.outer; ++o)
    for (int64_t k = 0; k < K; ++k) {
      float* d = out + (o * s.n + idx[k]) * s.inner;
      const float* v = src + (o * K + k) * s.inner;
      for (int64_t i = 0; i < s.inner; ++i) d[i] += v[i];
    }
}

void gather(const float* x, const int64_t* idx, float* out, const IndexView& s, int64_t K) {
  for (int64_t o = 0; o < s.outer; ++o)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t i = 0; i < s.inner; ++i) {
        const int64_t at = (o * K + k) * s.inner + i;
        out[at] = x[(o * s.n + idx[at]) * s.inner + i];
      }
}

void scatter_add(float* out, const float* src, const int64_t* idx, const IndexView& s, int64_t K) {
  for (int64_t o = 0; o < s.outer; ++o)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t i = 0; i < s.inner; ++i) {
        const int64_t at = (o * K + k) * s.inner + i;
        out[(o * s.n + idx[at]) * s.inner + i] += src[at];
      }
}

void argmax(const float* x, int64_t* out, const IndexView& s) {
  for (int64_t o = 0; o < s.outer; ++o)
    for (int64_t i = 0; i < s.inner; ++i) {
      const float* p = x + o * s.n * s.inner + i;
      int64_t best = 0;
      for (int64_t k = 1; k < s.n; ++k)
        if (p[k * s.inner] > p[best * s.inner]) best = k;
      out[o * s.inner + i] = best;
    }
}

}  // namespace signet::cpu
