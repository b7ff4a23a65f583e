// `signet evaluate --config` and `signet reproduce` on the command line: bad configs exit 1 with
// a message naming the file and key; --dry-run lists the cells (with --json, as JSON).
#include <gtest/gtest.h>

#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "tests/cli/cli_run.h"

namespace fs = std::filesystem;

namespace {
using signet::testing::CliRun;
// Configs name experiments/ relative to the source tree, so the binary runs from there.
CliRun run(const std::string& args, bool with_stderr = true) {
  return signet::testing::run_signet(args, with_stderr, SIGNET_SOURCE_DIR);
}

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("signet_eval_cli_" + std::to_string(getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
};
}  // namespace

TEST(EvalCli, BadConfigsExitOneNamingTheFileAndKey) {
  TempDir d;
  const std::string bad = (d.path / "bad.toml").string();
  std::ofstream(bad) << "name = \"x\"\ntitle = \"X\"\nsedes = [1]\n";
  CliRun r = run("evaluate --config " + bad);
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("bad.toml:3"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("unknown key 'sedes'"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("seeds"), std::string::npos) << r.output;  // listed among the allowed keys

  r = run("evaluate --config " + (d.path / "missing.toml").string());
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("missing.toml"), std::string::npos) << r.output;

  r = run("reproduce table99");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("unknown experiment 'table99'"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("fig6"), std::string::npos) << r.output;

  r = run("evaluate");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("--weights is required (or --config"), std::string::npos) << r.output;
}

TEST(EvalCli, DryRunListsTheCellsOfEveryShippedExperiment) {
  TempDir d;
  for (const char* e : {"fig6", "table3", "table4", "fig7", "fig8", "fig9", "permutation", "distill", "blackbox",
                        "trigger-sets", "whitebox", "blackbox-integrity", "whitebox-integrity", "whitebox-services",
                        "whitebox-capacity", "whitebox-overwrite", "whitebox-wrn", "deepsigns-lstm", "output-keysearch", "deepsigns-wrn", "deepsigns-resnet50", "blackbox-services", "blackbox-cnn", "whitebox-cnn", "fig9-wrn", "fig9-lstm", "blackbox-cnn-integrity"}) {
    const CliRun r = run(std::string("reproduce ") + e + " --dry-run --json --cache " + d.path.string(), false);
    ASSERT_EQ(r.status, 0) << e << ": " << r.output;
    // One JSON object per config, one per line (fig9 runs three configs).
    std::istringstream lines(r.output);
    std::string line;
    int objects = 0;
    while (std::getline(lines, line)) {
      if (line.empty()) continue;
      const auto j = nlohmann::json::parse(line);
      EXPECT_TRUE(j["dry_run"].get<bool>());
      EXPECT_FALSE(j["cells"].empty()) << e;
      EXPECT_NE(j["listing"].get<std::string>().find(d.path.string()), std::string::npos);
      ++objects;
    }
    EXPECT_EQ(objects, std::string(e) == "fig9" ? 3 : 1) << e << ": " << r.output;
  }
  const CliRun r = run("reproduce figure7 --dry-run --cache " + d.path.string());
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("unmarked suspect cifar10-cnn-s6"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("(to train)"), std::string::npos) << r.output;
}
