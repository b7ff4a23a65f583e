#include <Eigen/Core>
#include <cmath>

#include "engine/ops/dispatch.h"
#include "engine/ops/softmax.h"

namespace signet::cpu {

void softmax_ref(const float* x, float* y, int64_t outer, int64_t n, int64_t inner, bool log) {
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      const float* px = x + o * n * inner + i;
      float* py = y + o * n * inner + i;
      float mx = -INFINITY;
      for (int64_t k = 0; k < n; ++k) mx = std::max(mx, px[k * inner]);
      double s = 0;
      for (int64_t k = 0; k < n; ++k) s += std::exp(static_cast<double>(px[k * inner]) - mx);
      for (int64_t k = 0; k < n; ++k) {
        const double z = static_cast<double>(px[k * inner]) - mx;
        py[k * inner] = static_cast<float>(log ? z - std::log(s) : std::exp(z) / s);
      }
    }
}

void softmax_fast(const float* x, float* y, int64_t outer, int64_t n, int64_t inner, bool log) {
  if (n == 0) return;  // empty rows: nothing to normalise
  if (inner != 1) return softmax_ref(x, y, outer, n, inner, log);
  // Rows are contiguous: Eigen's vectorised exp over each row.
#pragma omp parallel for if (outer * n >= kParallelGrain) schedule(static)
  for (int64_t o = 0; o < outer; ++o) {
    Eigen::Map<const Eigen::ArrayXf> xr(x + o * n, n);
    Eigen::Map<Eigen::ArrayXf> yr(y + o * n, n);
    const float mx = xr.maxCoeff();
    yr = (xr - mx).exp();
    const float s = yr.sum();
    if (log) {
      yr = xr - (mx + std::log(s));
    } else {
      yr *= 1.0f / s;
    }
  }
}

}  // namespace signet::cpu
