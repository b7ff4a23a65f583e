// A model whose weights hold NaN or Inf: evaluate and predict still run but warn (naming the
// tensor), extract and verify refuse to decide ownership on it (exit 1).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <limits>

#include "engine/serialize/safetensors.h"
#include "tests/cli/cli_run.h"

namespace fs = std::filesystem;
using signet::testing::CliRun;
using signet::testing::CliRunSplit;
using signet::testing::run_signet;
using signet::testing::run_signet_split;

namespace {
struct TempDir : signet::testing::TempDir {
  TempDir() : signet::testing::TempDir("signet_nonfinite_") {}
};

const std::string kData = " --dataset synthetic:1x28x28:10:300:100:3 --quiet --threads 2";

// A copy of `from` with one value of tensor `name` replaced by `v`.
void poison(const std::string& from, const std::string& to, const std::string& name, float v) {
  signet::NamedTensors nt = signet::load_safetensors(from);
  bool found = false;
  for (auto& [n, t] : nt.tensors)
    if (n == name) {
      t.f32()[3] = v;
      found = true;
    }
  ASSERT_TRUE(found) << name;
  signet::save_safetensors(to, nt);
}

// An input file for predict: 2 images of 1x28x28.
void write_input(const std::string& path) {
  signet::NamedTensors nt;
  signet::Tensor x = signet::Tensor::empty({2, 1, 28, 28});
  for (int64_t i = 0; i < x.numel(); ++i) x.f32()[i] = 0.5f;
  nt.tensors.emplace_back("input", x);
  signet::save_safetensors(path, nt);
}
}  // namespace

TEST(CliNonFiniteWeights, WarnWhenReportingRefuseWhenDeciding) {
  TempDir d;
  const std::string m = d.file("m.safetensors"), k = d.file("k.wmk");
  // gradsigns keys verify both white-box (extract) and black-box (verify); no training needed.
  const CliRun e = run_signet("embed --scheme gradsigns --epochs 0 --key-seed 3" + kData + " --out " + m +
                              " --keys-out " + k);
  ASSERT_EQ(e.status, 0) << e.output;
  const std::string nan = d.file("nan.safetensors"), inf = d.file("inf.safetensors");
  poison(m, nan, "fc2.weight", std::numeric_limits<float>::quiet_NaN());
  poison(m, inf, "fc3.bias", -std::numeric_limits<float>::infinity());

  // The clean model: no warning, a decision either way.
  const CliRunSplit clean = run_signet_split("evaluate --weights " + m + kData);
  EXPECT_EQ(clean.status, 0) << clean.err;
  EXPECT_EQ(clean.err.find("NaN/Inf"), std::string::npos) << clean.err;
  EXPECT_EQ(run_signet("extract --keys " + k + " --weights " + m).status, 0);

  const CliRunSplit ev = run_signet_split("evaluate --weights " + nan + kData);
  EXPECT_EQ(ev.status, 0) << ev.err;
  EXPECT_NE(ev.err.find("warning"), std::string::npos) << ev.err;
  EXPECT_NE(ev.err.find("'fc2.weight' holds 1 NaN/Inf value"), std::string::npos) << ev.err;
  const std::string in = d.file("in.safetensors");
  write_input(in);
  const CliRunSplit pr = run_signet_split("predict --weights " + inf + " --input " + in + " --out " + d.file("o.st"));
  EXPECT_EQ(pr.status, 0) << pr.err;
  EXPECT_NE(pr.err.find("'fc3.bias' holds 1 NaN/Inf value"), std::string::npos) << pr.err;

  for (const std::string& bad : {nan, inf}) {
    for (const std::string cmd : {"extract", "verify"}) {
      const CliRun r = run_signet(cmd + " --keys " + k + " --weights " + bad);
      EXPECT_EQ(r.status, 1) << cmd << ": " << r.output;
      EXPECT_NE(r.output.find(bad), std::string::npos) << r.output;
      EXPECT_NE(r.output.find("no ownership decision"), std::string::npos) << r.output;
      EXPECT_EQ(r.output.find("OWNERSHIP PROVEN"), std::string::npos) << r.output;
    }
  }
}
