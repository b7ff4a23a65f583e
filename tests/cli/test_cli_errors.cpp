// The command line on bad input: a clear message naming the file or flag, a non-zero exit,
// never a crash (exit by signal) and never a half-written output file.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "tests/cli/cli_run.h"

namespace fs = std::filesystem;

namespace {
using signet::testing::CliRun;
CliRun run(const std::string& args) { return signet::testing::run_signet(args); }

struct TempDir {
  fs::path path;
  TempDir() : path(fs::temp_directory_path() / ("signet_cli_" + std::to_string(getpid()))) { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& n) const { return (path / n).string(); }
};

void write_bytes(const std::string& p, const std::string& bytes) { std::ofstream(p, std::ios::binary) << bytes; }

void expect_error(const CliRun& r, const std::string& needle) {
  EXPECT_GE(r.status, 1) << r.output;
  EXPECT_LT(r.status, 128) << "killed by a signal: " << r.output;
  EXPECT_NE(r.output.find(needle), std::string::npos) << "message should mention '" << needle << "': " << r.output;
}
}  // namespace

TEST(CliErrors, UnknownModelAndDataset) {
  TempDir d;
  expect_error(run("train --model nonet --dataset fashion-mnist --epochs 1 --out " + d.file("m.safetensors")), "nonet");
  expect_error(run("train --model mnist-mlp --dataset cifar99 --epochs 1 --out " + d.file("m.safetensors")), "cifar99");
  EXPECT_FALSE(fs::exists(d.file("m.safetensors")));
}

TEST(CliErrors, MissingAndCorruptDataFiles) {
  TempDir d;
  expect_error(run("train --dataset fashion-mnist --data-dir " + d.file("nowhere") + " --epochs 1 --out " + d.file("m.safetensors")), "nowhere");
  // Truncated gzip and IDX files in a data dir.
  write_bytes(d.file("train-images-idx3-ubyte.gz"), std::string("\x1f\x8b\x08\x00garbage", 12));
  write_bytes(d.file("train-labels-idx1-ubyte"), std::string("\x00\x00\x08\x01\x00\x00\x00\x05\x01", 9));
  write_bytes(d.file("t10k-images-idx3-ubyte"), std::string("\x00\x00\x08\x03", 4));
  write_bytes(d.file("t10k-labels-idx1-ubyte"), std::string("\x00\x00\x08\x01", 4));
  const CliRun r = run("train --dataset fashion-mnist --data-dir " + d.path.string() + " --epochs 1 --out " + d.file("m.safetensors"));
  expect_error(r, d.path.string());
  EXPECT_FALSE(fs::exists(d.file("m.safetensors")));
}

TEST(CliErrors, CorruptAndTruncatedSafetensors) {
  TempDir d;
  write_bytes(d.file("short.safetensors"), "abc");
  expect_error(run("evaluate --weights " + d.file("short.safetensors")), "short.safetensors");
  write_bytes(d.file("bad.safetensors"), std::string("\x10\x00\x00\x00\x00\x00\x00\x00{not json!!!!!!}", 24));
  expect_error(run("evaluate --weights " + d.file("bad.safetensors")), "bad.safetensors");
  expect_error(run("info " + d.file("bad.safetensors")), "bad.safetensors");
  expect_error(run("evaluate --weights " + d.file("missing.safetensors")), "missing.safetensors");
}

TEST(CliErrors, WrongShapesAndFlags) {
  TempDir d;
  // A file with Signet metadata missing and too few tensors for --model: the error names the
  // tensors the model needs that are not there.
  std::string header = R"({"fc1.weight":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})";
  while ((8 + header.size()) % 8) header += ' ';
  std::string bytes(8, '\0');
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  bytes += header + std::string(16, '\0');
  write_bytes(d.file("tiny.safetensors"), bytes);
  expect_error(run("evaluate --model mnist-mlp --weights " + d.file("tiny.safetensors")), "fc2.weight, fc3.weight");
  expect_error(run("train --epochs -3 --out " + d.file("m.safetensors")), "--epochs");
  expect_error(run("train --lr nan --out " + d.file("m.safetensors")), "--lr");
  expect_error(run("train --epochs 1"), "--out");
  expect_error(run("train --epochs 1 --warmup-steps -7 --out " + d.file("m.safetensors")), "--warmup-steps");
  expect_error(run("bench --model mnist-mlp --input-shape 3,x --steps 1"), "--input-shape");
  const CliRun r = run("frobnicate");
  EXPECT_NE(r.status, 0);
  EXPECT_LT(r.status, 128);
}

TEST(CliErrors, NanLossNamesTheFlag) {
  TempDir d;
  const CliRun r = run("train --epochs 1 --lr 1e30 --schedule constant --quiet --out " + d.file("m.safetensors"));
  if (r.output.find("fashion-mnist") != std::string::npos && r.output.find("not found") != std::string::npos)
    GTEST_SKIP() << "Fashion-MNIST is not installed";
  expect_error(r, "--lr");
  EXPECT_FALSE(fs::exists(d.file("m.safetensors")));
}

TEST(CliErrors, EmbedAndExtractBadInput) {
  TempDir d;
  expect_error(run("embed --scheme no-such-scheme --out " + d.file("m.safetensors") + " --keys-out " + d.file("k.wmk")), "no-such-scheme");
  expect_error(run("embed --out " + d.file("m.safetensors")), "--keys-out");
  expect_error(run("embed --model nonet --out " + d.file("m.safetensors") + " --keys-out " + d.file("k.wmk")), "nonet");
  expect_error(run("embed --bits 0 --epochs 1 --out " + d.file("m.safetensors") + " --keys-out " + d.file("k.wmk")), "--bits");
  EXPECT_FALSE(fs::exists(d.file("m.safetensors")));
  EXPECT_FALSE(fs::exists(d.file("k.wmk")));
  write_bytes(d.file("k.wmk"), "not a keys file at all");
  expect_error(run("extract --keys " + d.file("k.wmk") + " --weights " + d.file("m.safetensors")), "k.wmk");
  expect_error(run("extract --keys " + d.file("nokeys.wmk") + " --weights " + d.file("m.safetensors")), "nokeys.wmk");
}

TEST(CliErrors, BadFlagsExitWithStatusTwo) {
  // The README promises 2 for command-line mistakes, 1 for errors found while working.
  const CliRun unknown = run("train --no-such-flag");
  EXPECT_EQ(unknown.status, 2) << unknown.output;
  EXPECT_NE(unknown.output.find("--no-such-flag"), std::string::npos) << unknown.output;
  const CliRun bad_value = run("train --epochs three");
  EXPECT_EQ(bad_value.status, 2) << bad_value.output;
  const CliRun no_command = run("frobnicate");
  EXPECT_EQ(no_command.status, 2) << no_command.output;
  const CliRun help = run("attack --help");
  EXPECT_EQ(help.status, 0) << help.output;
}
