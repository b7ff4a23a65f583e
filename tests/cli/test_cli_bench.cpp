// `signet bench --forward-only`: the inference timing the fair harness (bench/e2e/fair.py) sets
// beside PyTorch's `torch_step.py --forward-only` says so in its JSON, and a training-only flag
// with it is refused with a message, not run as something else.
#include <gtest/gtest.h>

#include "tests/cli/cli_run.h"

namespace signet::testing {
namespace {

TEST(CliBench, ForwardOnlySaysSoInItsJson) {
  const nlohmann::json j =
      run_signet_json("bench --model mnist-mlp --batch-size 1 --steps 2 --warmup 1 --threads 1 --forward-only --json");
  ASSERT_TRUE(j.contains("forward_only")) << j.dump();
  EXPECT_TRUE(j.at("forward_only").get<bool>());
  EXPECT_EQ(j.at("batch_size").get<int64_t>(), 1);
  EXPECT_GT(j.at("median_ms").get<double>(), 0.0);
  EXPECT_LE(j.at("min_ms").get<double>(), j.at("max_ms").get<double>());
}

TEST(CliBench, TrainingStepsAreTheDefault) {
  const nlohmann::json j = run_signet_json("bench --model mnist-mlp --batch-size 2 --steps 1 --warmup 0 --threads 1 --json");
  ASSERT_TRUE(j.contains("forward_only")) << j.dump();
  EXPECT_FALSE(j.at("forward_only").get<bool>());
}

TEST(CliBench, ForwardOnlyRefusesATrainingTerm) {
  const CliRun r = run_signet(
      "bench --model mnist-mlp --batch-size 2 --steps 1 --warmup 0 --threads 1 --forward-only --scheme deepsigns-hidden");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("--forward-only"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("terminate"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace signet::testing
