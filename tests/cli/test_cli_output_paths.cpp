// Output paths are checked before any work: an output never replaces an input or another output,
// and its directory must exist and be writable, so a long run never ends with nowhere to write
// (a marked model without its keys).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/cli/cli_run.h"

namespace fs = std::filesystem;

namespace {
using signet::testing::CliRun;
CliRun run(const std::string& args) { return signet::testing::run_signet(args); }

struct TempDir : signet::testing::TempDir {
  TempDir() : signet::testing::TempDir("signet_outpaths_") {}
};

const std::string kInput = "not really a model, but it must survive";
std::string slurp(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

void expect_error(const CliRun& r, const std::vector<std::string>& needles) {
  EXPECT_GE(r.status, 1) << r.output;
  EXPECT_LT(r.status, 128) << "killed by a signal: " << r.output;
  for (const std::string& n : needles)
    EXPECT_NE(r.output.find(n), std::string::npos) << "message should mention '" << n << "': " << r.output;
}

const std::string kSynth = " --dataset synthetic:1x28x28:10:300:100:3 --epochs 1 --quiet --key-seed 1";
}  // namespace

TEST(CliOutputPaths, OutputsNeverOverwriteInputs) {
  TempDir d;
  const std::string m = d.file("m.safetensors");
  std::ofstream(m, std::ios::binary) << kInput;
  expect_error(run("predict --weights " + m + " --input " + d.file("in.safetensors") + " --out " + m),
               {"--out", "--weights"});
  expect_error(run("embed --from " + m + " --keys-out " + m + " --out " + d.file("o.safetensors") + kSynth),
               {"--keys-out", "--from"});
  expect_error(run("embed --from " + m + " --keys-out " + d.file("k.wmk") + " --out " + m + kSynth),
               {"--out", "--from"});
  expect_error(run("finetune --weights " + m + " --out " + m), {"--out", "--weights"});
  expect_error(run("attack prune --fraction 0.5 --weights " + m + " --out " + m), {"--out", "--weights"});
  // The same file under another name: "./", "..", a symbolic link.
  fs::create_directories(d.path / "sub");
  fs::create_symlink(m, d.file("link.safetensors"));
  expect_error(run("predict --weights " + m + " --input x --out " + d.file("sub/../m.safetensors")),
               {"--out", "--weights"});
  expect_error(run("finetune --weights " + m + " --out " + d.file("link.safetensors")), {"--out", "--weights"});
  EXPECT_EQ(slurp(m), kInput);
}

TEST(CliOutputPaths, OutputsAreDistinct) {
  TempDir d;
  const std::string x = d.file("x.safetensors");
  expect_error(run("train --out " + x + " --checkpoint " + x + " --dataset synthetic:1x28x28:10:300:100:3"),
               {"--out", "--checkpoint"});
  expect_error(run("embed --out " + x + " --keys-out " + x + kSynth), {"--out", "--keys-out"});
  // Relative names of one file, neither existing yet.
  const CliRun rel = signet::testing::run_signet("train --out y.safetensors --checkpoint ./y.safetensors", true,
                                                 d.path.string());
  expect_error(rel, {"--out", "--checkpoint"});
  EXPECT_FALSE(fs::exists(x));
}

TEST(CliOutputPaths, MissingOrReadOnlyDirectoryFailsBeforeTraining) {
  TempDir d;
  const std::string m = d.file("m.safetensors");
  const CliRun r = run("embed --out " + m + " --keys-out " + d.file("missing-dir/k.wmk") + kSynth);
  expect_error(r, {"--keys-out", "missing-dir", "does not exist"});
  EXPECT_FALSE(fs::exists(m)) << "no marked model may be left without its keys";
  expect_error(run("train --out " + d.file("nowhere/m.safetensors") + " --dataset synthetic:1x28x28:10:300:100:3"),
               {"--out", "nowhere"});
  expect_error(run("train --out " + d.path.string() + " --dataset synthetic:1x28x28:10:300:100:3"),
               {"--out", "is a directory"});
  if (geteuid() != 0) {  // root writes anywhere
    fs::create_directories(d.path / "ro");
    fs::permissions(d.path / "ro", fs::perms::owner_read | fs::perms::owner_exec);
    expect_error(run("train --out " + d.file("ro/m.safetensors") + " --dataset synthetic:1x28x28:10:300:100:3"),
                 {"--out", "not writable"});
    fs::permissions(d.path / "ro", fs::perms::owner_all);
  }
}

TEST(CliOutputPaths, CheckpointMayContinueTheResumedFile) {
  TempDir d;
  // Only --out is refused as the resumed checkpoint; the error comes from the missing checkpoint,
  // not from the path check.
  const CliRun r = run("train --resume " + d.file("c.ckpt") + " --checkpoint " + d.file("c.ckpt") + " --out " +
                       d.file("m.safetensors") + " --dataset synthetic:1x28x28:10:300:100:3 --epochs 1 --quiet");
  EXPECT_EQ(r.output.find("same file"), std::string::npos) << r.output;
  expect_error(run("train --resume " + d.file("c.ckpt") + " --out " + d.file("c.ckpt")), {"--out", "--resume"});
}
