// `--device` and `signet info --devices`: without a usable GPU (every CI machine) a CUDA device
// is refused with the driver's or the build's reason, exit 1, never a crash; with one, the
// commands still refuse it, saying why, until they run on it.
#include <gtest/gtest.h>

#include "engine/cuda/runtime.h"
#include "tests/cli/cli_run.h"

namespace signet::testing {
namespace {

TEST(CliDevices, InfoDevicesListsTheCpuAndSaysWhyThereIsNoGpu) {
  const CliRun r = run_signet("info --devices");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("cpu"), std::string::npos) << r.output;
  const nlohmann::json j = run_signet_json("info --devices --json");
  const cuda::CudaAvailability a = cuda::cuda_availability();
  EXPECT_EQ(j.at("cuda_compiled").get<bool>(), a.compiled);
  EXPECT_EQ(j.at("gpus").size(), a.gpus.size());
  if (a.gpus.empty()) {
    EXPECT_FALSE(j.at("why_no_gpu").get<std::string>().empty());
    EXPECT_NE(r.output.find("no GPU: "), std::string::npos) << r.output;
  }
}

TEST(CliDevices, InfoNeedsAFileOrDevicesNotBoth) {
  CliRun r = run_signet("info");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("FILE is required"), std::string::npos) << r.output;
  r = run_signet("info /nonexistent.safetensors --devices");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("not both"), std::string::npos) << r.output;
}

TEST(CliDevices, CudaDeviceIsRefusedWithAReasonAndNoOutput) {
  TempDir dir("signet_cli_devices");
  for (const std::string cmd : {"train --model mnist-mlp --epochs 1 --out " + dir.file("m.safetensors"),
                                std::string("bench --model mnist-mlp --steps 1 --warmup 0")}) {
    for (const std::string dev : {"cuda", "cuda:3"}) {
      const CliRun r = run_signet(cmd + " --device " + dev);
      EXPECT_EQ(r.status, 1) << cmd << " --device " << dev << ": " << r.output;
      EXPECT_NE(r.output.find("cuda:"), std::string::npos) << r.output;
      EXPECT_EQ(r.output.find("terminate"), std::string::npos) << r.output;
    }
  }
  EXPECT_FALSE(std::filesystem::exists(dir.file("m.safetensors")));
  const CliRun bad = run_signet("train --model mnist-mlp --device gpu --out " + dir.file("m.safetensors"));
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.output.find("bad device 'gpu'"), std::string::npos) << bad.output;
}

TEST(CliDevices, CpuDeviceIsTheDefaultAndAccepted) {
  const CliRun r = run_signet("bench --model mnist-mlp --steps 1 --warmup 0 --batch-size 8 --device cpu");
  EXPECT_EQ(r.status, 0) << r.output;
}

}  // namespace
}  // namespace signet::testing
