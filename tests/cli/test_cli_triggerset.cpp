// Trigger-set watermarks from the command line: `signet embed --scheme zhang-content|adi|
// frontier-stitching` writes a marked model and keys, `signet verify --json` claims the marked
// model (detected, p_value, matches, queries) and not an unmarked one, and bad options are
// refused with a message.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "tests/cli/cli_run.h"

namespace fs = std::filesystem;
using json = nlohmann::json;
using signet::testing::CliRun;
using signet::testing::run_signet;

namespace {

const std::string kData = " --dataset synthetic:1x28x28:10:300:100:3 --quiet --threads 2 --key-seed 9";

struct Dir {
  fs::path dir = fs::temp_directory_path() / ("signet_cli_trig_" + std::to_string(getpid()));
  std::string unmarked = file("u.safetensors");
  Dir() {
    fs::create_directories(dir);
    const CliRun t = run_signet("train --model mnist-mlp --dataset synthetic:1x28x28:10:300:100:3 --quiet "
                                "--threads 2 --epochs 8 --seed 5 --out " + unmarked);
    EXPECT_EQ(t.status, 0) << t.output;
  }
  ~Dir() { fs::remove_all(dir); }
  std::string file(const std::string& n) const { return (dir / n).string(); }
};

const Dir& dir() {
  static const Dir d;
  return d;
}

json verify(const std::string& keys, const std::string& weights) {
  const CliRun r = run_signet("verify --json --keys " + keys + " --weights " + weights, false);
  EXPECT_EQ(r.status, 0) << r.output;
  try {
    return json::parse(r.output);
  } catch (const json::exception&) {
    ADD_FAILURE() << "not JSON: " << r.output;
    return json::object();
  }
}

// Embeds with `flags`, then verifies the marked model (claimed) and the unmarked one (not).
void embed_and_verify(const std::string& name, const std::string& flags) {
  const std::string keys = dir().file(name + ".wmk"), marked = dir().file(name + ".safetensors");
  const CliRun e = run_signet("embed" + flags + kData + " --keys-out " + keys + " --out " + marked);
  ASSERT_EQ(e.status, 0) << e.output;
  const json m = verify(keys, marked);
  EXPECT_TRUE(m.at("detected").get<bool>()) << m.dump();
  EXPECT_LE(m.at("p_value").get<double>(), 1e-6);
  EXPECT_EQ(m.at("queries").get<int64_t>(), m.at("keys_k").get<int64_t>());
  EXPECT_GE(m.at("matches").get<int64_t>(), m.at("matches_needed").get<int64_t>());
  const json u = verify(keys, dir().unmarked);
  EXPECT_FALSE(u.at("detected").get<bool>()) << u.dump();
  EXPECT_GT(u.at("p_value").get<double>(), 1e-6);
  EXPECT_LT(u.at("matches").get<int64_t>(), u.at("matches_needed").get<int64_t>());
}

}  // namespace

TEST(CliTriggerSet, ZhangContentFromScratch) {
  embed_and_verify("content", " --scheme zhang-content --source-class 1 --keys 20 --key-repeat 10 --epochs 8 --reference-epochs 8");
}

TEST(CliTriggerSet, AdiByFineTuning) {
  embed_and_verify("adi", " --scheme adi --keys 20 --key-repeat 30 --epochs 20 --lr 0.02 --from " + dir().unmarked);
}

TEST(CliTriggerSet, FrontierStitching) {
  embed_and_verify("frontier", " --scheme frontier-stitching --keys 100 --key-repeat 10 --epochs 20 --lr 0.02 "
                               "--eps 0.02 --reference-epochs 8 --from " + dir().unmarked);
}

TEST(CliTriggerSet, OptionErrors) {
  const std::string out = " --keys-out " + dir().file("x.wmk") + " --out " + dir().file("x.safetensors");
  CliRun r = run_signet("embed --scheme frontier-stitching" + kData + out);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("--from"), std::string::npos) << r.output;
  r = run_signet("embed --scheme adi --eps 0.1" + kData + out);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("eps"), std::string::npos) << r.output;
  r = run_signet("embed --scheme zhang-content --keys 10 --pattern " + dir().file("none.png") + kData + out);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("cannot read the pattern image"), std::string::npos) << r.output;
  r = run_signet("embed --scheme zhang-noise --source-class 0 --target-class 0" + kData + out);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("--source-class"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir().file("x.wmk")));
  EXPECT_FALSE(fs::exists(dir().file("x.safetensors")));
}
