// `signet embed --json` records the options the mark was made with: the per-model defaults
// (Scheme::model_defaults) are visible, flags given win, and an owner's personal value is absent.
#include <gtest/gtest.h>

#include <string>

#include "tests/cli/cli_run.h"

using namespace signet::testing;

namespace {
const std::string kData = " --dataset synthetic:1x16x16:10:120:40:3 --quiet --threads 1 --key-seed 1 --epochs 1";

nlohmann::json embed(const TempDir& d, const std::string& flags) {
  return run_signet_json("embed --scheme deepsigns-hidden --bits 8 --json" + kData + flags + " --keys-out " +
                         d.file("k.wmk") + " --out " + d.file("m.safetensors"));
}
}  // namespace

TEST(CliEmbedOptions, LossWeightsDefaultPerModelAndTheJsonSaysWhich) {
  TempDir d("signet_embed_options_");
  const nlohmann::json cnn = embed(d, " --model cifar10-cnn --signature ACME");
  EXPECT_DOUBLE_EQ(cnn["options"].value("lambda1", 0.0), 0.1) << cnn.dump();
  EXPECT_DOUBLE_EQ(cnn["options"].value("lambda2", 0.0), 0.1);
  EXPECT_EQ(cnn["options"].value("bits", 0), 8);
  EXPECT_FALSE(cnn["options"].contains("signature")) << "the owner's signature string is secret";

  const nlohmann::json given = embed(d, " --model cifar10-cnn --lambda1 0.02");
  EXPECT_DOUBLE_EQ(given["options"].value("lambda1", 0.0), 0.02);
  EXPECT_DOUBLE_EQ(given["options"].value("lambda2", 0.0), 0.1);

  const nlohmann::json mlp = embed(d, " --model mnist-mlp");
  EXPECT_DOUBLE_EQ(mlp["options"].value("lambda1", 0.0), 0.01);
}
