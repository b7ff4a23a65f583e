// Denormals are flushed to zero (engine/cpu/denormals.h) in the main thread and in the OpenMP
// pool's threads, before any test set it.
#include <gtest/gtest.h>
#include <omp.h>

#include <atomic>

#include "engine/cpu/denormals.h"

namespace signet {
namespace {

#if defined(__SSE__) || defined(__x86_64__)
TEST(Denormals, FlushedInTheMainThreadAndThePool) {
  EXPECT_TRUE(cpu::denormals_flushed());
  volatile float tiny = 1e-30f, scale = 1e-10f;
  EXPECT_EQ(tiny * scale, 0.0f);  // 1e-40 is denormal: flushed
  std::atomic<int> flushed{0}, threads{0};
#pragma omp parallel num_threads(2)
  {
    ++threads;
    if (cpu::denormals_flushed()) ++flushed;
  }
  EXPECT_EQ(flushed.load(), threads.load());
}
#endif

}  // namespace
}  // namespace signet
