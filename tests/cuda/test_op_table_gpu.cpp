// The op table (tests/cuda_sim/op_cases.h) on a real GPU against the CPU's reference kernels:
// cuBLAS, cuDNN and our kernels, forward and backward. Skipped without a usable GPU.
#include <gtest/gtest.h>

#include "engine/cuda/runtime.h"
#include "tests/cuda_sim/compare.h"
#include "tests/cuda_sim/op_cases.h"

namespace signet::testing {
namespace {

TEST(OpTableGpu, EveryOpWithADevicePathMatchesTheReference) {
  const cuda::CudaAvailability a = cuda::cuda_availability();
  if (a.gpus.empty()) GTEST_SKIP() << "no usable GPU: " << a.why_none;
  for (const OpCase& c : op_cases()) {
    const auto want = run_on(c, Device::cpu(), true);
    std::vector<std::vector<float>> got;
    try {
      got = run_on(c, Device::cuda(0), false);
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("no kernel for device cuda:0"), std::string::npos) << c.name << ": " << e.what();
      continue;
    }
    ASSERT_EQ(got.size(), want.size()) << c.name;
    // cuBLAS and cuDNN add in their own orders: a looser tolerance than the emulated device's.
    for (size_t k = 0; k < got.size(); ++k)
      EXPECT_TRUE(close_to(got[k], want[k], 10 * c.tol, 10 * c.tol)) << c.name << " part " << k;
  }
}

}  // namespace
}  // namespace signet::testing
