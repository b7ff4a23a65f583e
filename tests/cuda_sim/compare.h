// Comparing a device's results with the CPU reference, as DESIGN.md asks:
// |got - ref| <= atol + rtol |ref|, reporting the worst element. Plain host code, shared by the
// emulated-device tests (tests/cuda_sim/) and the real-GPU tests (tests/cuda/).
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace signet::testing {

inline std::vector<float> random_floats(int64_t n, uint32_t seed, float lo = -3.0f, float hi = 3.0f) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = u(g);
  return v;
}

inline ::testing::AssertionResult close_to(const std::vector<float>& got, const std::vector<float>& ref, float atol,
                                           float rtol) {
  if (got.size() != ref.size())
    return ::testing::AssertionFailure() << "sizes differ: " << got.size() << " vs " << ref.size();
  size_t worst = 0;
  double worst_excess = -1;
  for (size_t i = 0; i < got.size(); ++i) {
    const bool both_nan = std::isnan(got[i]) && std::isnan(ref[i]);
    const double err = both_nan ? 0.0 : std::fabs(static_cast<double>(got[i]) - ref[i]);
    const double excess = (std::isnan(err) ? 1e30 : err) - (atol + rtol * std::fabs(ref[i]));
    if (excess > worst_excess) {
      worst_excess = excess;
      worst = i;
    }
  }
  if (worst_excess > 0)
    return ::testing::AssertionFailure() << "element " << worst << " of " << got.size() << ": got " << got[worst]
                                         << ", reference " << ref[worst];
  return ::testing::AssertionSuccess();
}

}  // namespace signet::testing
