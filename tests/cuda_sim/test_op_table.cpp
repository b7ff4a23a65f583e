// The op table (op_cases.h) on every backend this machine has without a GPU: the CPU's fast
// kernels and the emulated GPU (our kernels on the SIMT harness, the CPU references in place of
// cuBLAS and cuDNN), each against the CPU's plain-loop reference kernels, forward and backward.
// An op a backend has no kernel for is listed, not failed; the list is checked so that it can
// only shrink.
#include <gtest/gtest.h>

#include <set>

#include "tests/cuda_sim/compare.h"
#include "tests/cuda_sim/op_cases.h"
#include "tests/cuda_sim/sim_device.h"

namespace signet::testing {
namespace {

void expect_matches_reference(const OpCase& c, const std::vector<std::vector<float>>& got,
                              const std::vector<std::vector<float>>& want, const std::string& backend) {
  ASSERT_EQ(got.size(), want.size()) << c.name << " on " << backend << ": a different number of gradients";
  for (size_t k = 0; k < got.size(); ++k)
    EXPECT_TRUE(close_to(got[k], want[k], c.tol, c.tol))
        << c.name << " on " << backend << ": " << (k == 0 ? std::string("output") : "gradient " + std::to_string(k));
}

TEST(OpTable, EveryOpOnTheCpuFastKernelsMatchesTheReference) {
  for (const OpCase& c : op_cases())
    expect_matches_reference(c, run_on(c, Device::cpu(), false), run_on(c, Device::cpu(), true), "cpu");
}

TEST(OpTable, EveryOpOnTheEmulatedGpuMatchesTheReferenceOrIsListedAsMissing) {
  EmulatedGpu gpu;
  std::set<std::string> missing;
  for (const OpCase& c : op_cases()) {
    const auto want = run_on(c, Device::cpu(), true);
    try {
      expect_matches_reference(c, run_on(c, Device::cuda(0), false), want, "cuda:0 (emulated)");
    } catch (const Error& e) {
      ASSERT_NE(std::string(e.what()).find("no kernel for device cuda:0"), std::string::npos) << c.name << ": " << e.what();
      missing.insert(c.name);
    }
  }
  // The ops without a device path today (docs/cuda.md); a new device path removes its line.
  const std::set<std::string> known_missing = {};
  EXPECT_EQ(missing, known_missing);
}

}  // namespace
}  // namespace signet::testing
