// Values a user (or a crafted file) can get wrong: counts past any sane bound, negative
// regularizer weights, a keys file where a model belongs, control characters in metadata. Each is
// an error naming the flag or file (or, for `info`, escaped output), never accepted silently.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "engine/serialize/safetensors.h"
#include "tests/cli/cli_run.h"
#include "watermark/scheme.h"

namespace fs = std::filesystem;
using signet::testing::CliRun;
using signet::testing::run_signet;

namespace {
struct TempDir : signet::testing::TempDir {
  TempDir() : signet::testing::TempDir("signet_hostile_") {}
};

void expect_error(const CliRun& r, const std::vector<std::string>& needles) {
  EXPECT_EQ(r.status, 1) << r.output;
  for (const std::string& n : needles)
    EXPECT_NE(r.output.find(n), std::string::npos) << "message should mention '" << n << "': " << r.output;
}

void write_file(const std::string& path, std::map<std::string, std::string> metadata, const std::string& name = "t") {
  signet::NamedTensors nt;
  signet::Tensor t = signet::Tensor::empty({2});
  t.f32()[0] = 1;
  t.f32()[1] = 2;
  nt.tensors.emplace_back(name, t);
  nt.metadata = std::move(metadata);
  signet::save_safetensors(path, nt);
}

const std::string kData = " --dataset synthetic:1x28x28:10:300:100:3 --quiet";
}  // namespace

TEST(CliHostileValues, EpochCountsHaveAnUpperBound) {
  TempDir d;
  const std::string out = " --out " + d.file("m.safetensors");
  // 2^64 and more: the parser clamps to INT64_MAX, which must not pass as a plan.
  expect_error(run_signet("train --epochs 99999999999999999999" + kData + out), {"--epochs", "at most 100000"});
  expect_error(run_signet("train --epochs 100001" + kData + out), {"--epochs", "at most 100000"});
  expect_error(run_signet("finetune --weights x --epochs 100001" + kData + out), {"--epochs", "at most 100000"});
  expect_error(run_signet("embed --epochs 100001 --keys-out " + d.file("k.wmk") + kData + out),
               {"--epochs", "at most 100000"});
  expect_error(run_signet("attack prune --fraction 0.5 --finetune-epochs 100001 --weights x" + out),
               {"--finetune-epochs", "at most 100000"});
  EXPECT_FALSE(fs::exists(d.file("m.safetensors")));
}

TEST(CliHostileValues, NegativeRegularizerWeightsAreRejected) {
  TempDir d;
  const std::string files = " --out " + d.file("m.safetensors") + " --keys-out " + d.file("k.wmk");
  expect_error(run_signet("embed --scheme deepsigns-hidden --lambda2 -1" + kData + files), {"--lambda2"});
  expect_error(run_signet("embed --scheme deepsigns-hidden --lambda1 -0.5" + kData + files), {"--lambda1"});
  // Every scheme's regularizer weights (lambda*) are declared with a minimum of 0, so the flags of
  // future schemes are range-checked the same way.
  for (const signet::Scheme* s : signet::all_schemes())
    for (const signet::SchemeOption& o : s->options())
      if (o.name.rfind("lambda", 0) == 0) EXPECT_GE(o.min, 0) << s->info().name << " --" << o.name;
}

TEST(CliHostileValues, KeysFileWhereAModelBelongs) {
  TempDir d;
  const std::string k = d.file("k.wmk");
  write_file(k, {{"signet.format", "keys"}});
  expect_error(run_signet("evaluate --weights " + k + kData), {k, "is a keys file", "not a model"});
  expect_error(run_signet("finetune --weights " + k + kData + " --out " + d.file("m.safetensors")),
               {"is a keys file"});
}

TEST(CliHostileValues, InfoEscapesControlCharacters) {
  TempDir d;
  const std::string f = d.file("evil.safetensors");
  write_file(f, {{"signet.note", "hi\x1b]0;pwned\x07\x1b[2J\rthere"}, {"k\x1b[31m", "v"}}, "w\x1b[1Aeight");
  const CliRun r = run_signet("info " + f);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output.find('\x1b'), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find('\x07'), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find('\r'), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("hi\\x1b]0;pwned\\x07\\x1b[2J\\x0dthere"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("k\\x1b[31m = v"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("w\\x1b[1Aeight"), std::string::npos) << r.output;
  // C1 controls in UTF-8 (U+009B is CSI on some terminals) are escaped too; other UTF-8 is kept.
  write_file(f, {{"signet.note", "caf\xc3\xa9 \xc2\x9b" "31m"}});
  const CliRun u = run_signet("info " + f);
  EXPECT_NE(u.output.find("caf\xc3\xa9 \\xc2\\x9b" "31m"), std::string::npos) << u.output;
}
