// `signet embed --json` records the options the mark was made with: the per-model defaults
// (Scheme::model_defaults) are visible, flags given win, and an owner's personal value is absent.
// embed shapes its data with `signet train`'s flags (--pad-to, --train-limit, ...).
#include <gtest/gtest.h>

#include <filesystem>
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

TEST(CliEmbedOptions, PadsAndSubsetsItsDataAsTrainDoes) {
  TempDir d("signet_embed_shape_");
  const nlohmann::json e = embed(d, " --model cifar10-cnn --pad-to 20 --train-limit 50 --test-limit 30");
  EXPECT_EQ(e.value("train_size", 0), 50) << e.dump();
  EXPECT_EQ(e.value("test_size", 0), 30);
  EXPECT_EQ(e.value("pad_to", 0), 20);
  const nlohmann::json info = run_signet_json("info --json " + d.file("m.safetensors"));
  EXPECT_NE(info.dump().find("1,20,20"), std::string::npos) << info.dump();
  const CliRun bad = run_signet("embed --scheme deepsigns-hidden" + kData + " --pad-to 8 --keys-out " +
                                d.file("k2.wmk") + " --out " + d.file("m2.safetensors"));
  EXPECT_EQ(bad.status, 1) << bad.output;
  EXPECT_FALSE(std::filesystem::exists(d.file("m2.safetensors")));
}
