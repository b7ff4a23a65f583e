// uchida and gradsigns from the command line on synthetic data: embed, `signet extract --json`
// (white-box) and, for gradsigns, `signet verify --json` (black-box through the model's scores),
// on the marked model and on an unmarked one.
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

const std::string kData = " --dataset synthetic:1x28x28:10:300:100:3 --quiet --threads 2";

struct Dir {
  fs::path path = fs::temp_directory_path() / ("signet_whitebox_" + std::to_string(getpid()));
  Dir() { fs::create_directories(path); }
  ~Dir() { fs::remove_all(path); }
  std::string file(const std::string& n) const { return (path / n).string(); }
};

json run_json(const std::string& args) { return signet::testing::run_signet_json(args); }

TEST(CliWhiteBox, UchidaAndGradSignsEmbedExtractAndVerify) {
  Dir d;
  const std::string plain = d.file("plain.safetensors");
  CliRun r = run_signet("train --model mnist-mlp" + kData + " --epochs 3 --seed 4 --out " + plain);
  ASSERT_EQ(r.status, 0) << r.output;
  struct Case {
    std::string scheme, flags;
    bool black_box;
  };
  for (const Case& c : {Case{"uchida", " --bits 32 --lambda 0.1", false}, Case{"gradsigns", " --bits 32", true}}) {
    const std::string keys = d.file(c.scheme + ".wmk"), marked = d.file(c.scheme + ".safetensors");
    r = run_signet("embed --scheme " + c.scheme + c.flags + " --model mnist-mlp" + kData +
                   " --epochs 6 --batch-size 32 --seed 4 --key-seed 9 --keys-out " + keys + " --out " + marked);
    ASSERT_EQ(r.status, 0) << r.output;
    json j = run_json("extract --keys " + keys + " --weights " + marked + " --json");
    EXPECT_EQ(j.at("ber").get<double>(), 0.0) << j.dump();
    EXPECT_TRUE(j.at("ownership_proven").get<bool>()) << j.dump();
    EXPECT_TRUE(j.at("detected").get<bool>()) << j.dump();
    EXPECT_LT(j.at("p_value").get<double>(), 1e-6);
    j = run_json("extract --keys " + keys + " --weights " + plain + " --json");
    EXPECT_FALSE(j.at("ownership_proven").get<bool>()) << j.dump();
    EXPECT_FALSE(j.at("detected").get<bool>()) << j.dump();
    if (!c.black_box) {
      r = run_signet("verify --keys " + keys + " --weights " + marked + " --json", false);
      EXPECT_NE(r.status, 0) << r.output;
      continue;
    }
    j = run_json("verify --keys " + keys + " --weights " + marked + " --json");
    EXPECT_TRUE(j.at("ownership_proven").get<bool>()) << j.dump();
    EXPECT_TRUE(j.at("detected").get<bool>()) << j.dump();
    // The default budget: every key sample (all the target class has here, up to 50) x (64 + 1).
    const int64_t samples = j.at("samples").get<int64_t>();
    EXPECT_TRUE(samples > 0 && samples <= 50) << j.dump();
    EXPECT_EQ(j.at("queries").get<int64_t>(), 65 * samples) << j.dump();
    EXPECT_EQ(j.at("query_budget").get<int64_t>(), 65 * samples) << j.dump();
    j = run_json("verify --keys " + keys + " --weights " + plain + " --json");
    EXPECT_FALSE(j.at("ownership_proven").get<bool>()) << j.dump();
    EXPECT_FALSE(j.at("detected").get<bool>()) << j.dump();
  }
}

}  // namespace
