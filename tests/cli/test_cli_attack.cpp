// `signet attack <name>` and `signet extract --align`: every attack writes a loadable model
// file and says what it did; bad flags give a clear message, exit 1, and write nothing.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "tests/cli/cli_run.h"

namespace fs = std::filesystem;

namespace {
using signet::testing::CliRun;
CliRun run(const std::string& args, bool with_stderr = true) { return signet::testing::run_signet(args, with_stderr); }

nlohmann::json run_json(const std::string& args) {
  const CliRun r = run(args + " --json", false);
  EXPECT_EQ(r.status, 0) << args << "\n" << r.output;
  try {
    return nlohmann::json::parse(r.output);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not JSON (" << e.what() << "): " << r.output;
    return {};
  }
}

// One trained model and one marked model shared by the tests of this file.
struct Files {
  fs::path dir = fs::temp_directory_path() / ("signet_cli_attack_" + std::to_string(getpid()));
  std::string data = "--dataset synthetic:1x28x28:10:300:100:3 --quiet --threads 2";
  std::string trained, marked, keys;
  Files() {
    fs::create_directories(dir);
    trained = (dir / "trained.safetensors").string();
    marked = (dir / "marked.safetensors").string();
    keys = (dir / "keys.wmk").string();
    const CliRun t = run("train --model mnist-mlp " + data + " --epochs 2 --out " + trained);
    EXPECT_EQ(t.status, 0) << t.output;
    const CliRun e = run("embed --scheme deepsigns-hidden " + data + " --epochs 5 --bits 16 --key-fraction 0.3 "
                         "--lambda1 0.1 --lambda2 0.1 --key-seed 1 "
                         "--keys-out " + keys + " --out " + marked);
    EXPECT_EQ(e.status, 0) << e.output;
  }
  ~Files() { fs::remove_all(dir); }
  std::string file(const std::string& n) const { return (dir / n).string(); }
};
const Files& files() {
  static Files f;
  return f;
}

void expect_refused(const std::string& args, const std::string& out, const std::string& needle) {
  const CliRun r = run(args);
  EXPECT_EQ(r.status, 1) << args << "\n" << r.output;
  EXPECT_NE(r.output.find(needle), std::string::npos) << "message should mention '" << needle << "': " << r.output;
  EXPECT_FALSE(fs::exists(out)) << out << " should not be written";
}
}  // namespace

TEST(CliAttack, EveryAttackWritesAModelFile) {
  const Files& f = files();
  const std::string in = " --weights " + f.trained + " ";
  struct Case {
    std::string name, args, field;
  };
  const std::vector<Case> cases = {
      {"finetune", "finetune" + in + f.data + " --epochs 1", "epoch_loss"},
      {"prune", "prune" + in + f.data + " --fraction 0.5", "pruned_fraction"},
      {"prune-ft", "prune" + in + f.data + " --fraction 0.5 --finetune-epochs 1", "pruned_fraction"},
      {"quantize", "quantize" + in + "--bits 4 --quiet", "max_abs_error"},
      {"permute", "permute" + in + "--layers relu1,relu2 --seed 3 --quiet", "permuted"},
      {"overwrite", "overwrite" + in + f.data + " --bits 8 --epochs 1", "attacker_ber"},
      {"overwrite-output",
       "overwrite" + in + f.data + " --scheme deepsigns-output --keys 4 --candidates 20 --key-search random --epochs 30 --lr 0.05",
       "attacker_mismatches"},
      {"distill", "distill" + in + f.data + " --epochs 1 --queries 100 --answers scores", "agreement"},
  };
  for (const Case& c : cases) {
    const std::string out = f.file(c.name + ".safetensors");
    const nlohmann::json j = run_json("attack " + c.args + " --out " + out);
    EXPECT_TRUE(fs::exists(out)) << c.name;
    EXPECT_EQ(j.value("command", ""), "attack") << c.name;
    EXPECT_TRUE(j.contains(c.field)) << c.name << ": " << j.dump();
    EXPECT_EQ(j.value("out", ""), out);
    // The attacked file is a model the other commands read.
    const CliRun info = run("info " + out);
    EXPECT_EQ(info.status, 0) << c.name << ": " << info.output;
  }
  // Quantization and permutation report the accuracy when given a data set; a permutation keeps it.
  const nlohmann::json p = run_json("attack permute" + in + f.data + " --out " + f.file("p2.safetensors"));
  EXPECT_EQ(p.value("test_accuracy", -1.0), p.value("test_accuracy_before", -2.0));
  EXPECT_EQ(p["permuted"].size(), 2u);
  const nlohmann::json q = run_json("attack prune" + in + f.data + " --fraction 0.25 --out " + f.file("q2.safetensors"));
  EXPECT_NEAR(q.value("pruned_fraction", 0.0), 0.25, 1e-3);
  // Text output names the attack and the file.
  const CliRun t = run("attack quantize" + in + "--bits 2 --out " + f.file("q3.safetensors"));
  EXPECT_EQ(t.status, 0) << t.output;
  EXPECT_NE(t.output.find("written to " + f.file("q3.safetensors")), std::string::npos) << t.output;
}

TEST(CliAttack, BadFlagsAreRefusedWithoutWritingAFile) {
  const Files& f = files();
  const std::string in = " --weights " + f.trained + " ";
  const std::string out = f.file("bad.safetensors");
  expect_refused("attack prune" + in + "--fraction 1.5 --out " + out, out, "--fraction");
  expect_refused("attack prune" + in + "--fraction 0.5 --finetune-epochs -1 --out " + out, out, "--finetune-epochs");
  expect_refused("attack quantize" + in + "--bits 0 --out " + out, out, "--bits");
  expect_refused("attack quantize" + in + "--bits 17 --out " + out, out, "--bits");
  expect_refused("attack permute" + in + "--layers relu9 --out " + out, out, "relu9");
  expect_refused("attack overwrite" + in + f.data + " --scheme no-such-scheme --out " + out, out, "--scheme 'no-such-scheme'");
  expect_refused("attack finetune" + in + f.data + " --lr -1 --out " + out, out, "--lr");
  expect_refused("attack overwrite" + in + f.data + " --lambda1 -0.5 --out " + out, out, "--lambda1");
  expect_refused("attack quantize --weights " + f.file("missing.safetensors") + " --bits 4 --out " + out, out,
                 "missing.safetensors");
  expect_refused("attack quantize" + in + "--bits 4 --out " + f.trained, f.file("never"), "is the same file as --weights");
  expect_refused("attack distill" + in + f.data + " --answers logits --out " + out, out, "--answers");
  expect_refused("attack distill" + in + f.data + " --student nonet --out " + out, out, "nonet");
  expect_refused("attack distill" + in + f.data + " --queries -5 --out " + out, out, "--queries");
  // Unknown attack names and missing required flags are command-line errors (CLI11's status).
  for (const std::string& args : {"attack melt" + in + "--out " + out, "attack prune" + in + "--out " + out}) {
    const CliRun r = run(args);
    EXPECT_GT(r.status, 0) << args;
    EXPECT_LT(r.status, 128) << args;
  }
  EXPECT_NE(run("attack prune" + in + "--out " + out).output.find("--fraction is required"), std::string::npos);
  EXPECT_FALSE(fs::exists(out));
}

TEST(CliAttack, ExtractAlignUndoesAPermutation) {
  const Files& f = files();
  const std::string permuted = f.file("permuted.safetensors");
  ASSERT_EQ(run("attack permute --weights " + f.marked + " --out " + permuted + " --seed 5").status, 0);
  const nlohmann::json base = run_json("extract --keys " + f.keys + " --weights " + f.marked);
  const nlohmann::json plain = run_json("extract --keys " + f.keys + " --weights " + permuted);
  const nlohmann::json al = run_json("extract --align --keys " + f.keys + " --weights " + permuted);
  const nlohmann::json al_to = run_json("extract --align-to " + f.marked + " --keys " + f.keys + " --weights " + permuted);
  EXPECT_LT(al.value("alignment_residual", 1.0), 1e-6) << al.dump();
  EXPECT_FALSE(al.contains("aligned_p_value")) << "aligned bits are not an ownership test";
  ASSERT_TRUE(al.contains("aligned_ber")) << al.dump();
  EXPECT_FALSE(plain.contains("aligned_ber"));
  EXPECT_TRUE(al.value("aligned", false));
  // Aligned extraction of the permuted model reads what the plain one reads on the marked model.
  EXPECT_EQ(al["aligned_ber"], base["ber"]);
  EXPECT_EQ(al_to["aligned_ber"], base["ber"]);
  EXPECT_EQ(al["ber"], plain["ber"]);
  EXPECT_EQ(base.value("ber", 1.0), 0.0) << base.dump();
  EXPECT_GT(plain.value("ber", 0.0), base.value("ber", 1.0)) << plain.dump();
  const CliRun text = run("extract --align --keys " + f.keys + " --weights " + permuted);
  EXPECT_NE(text.output.find("(aligned)"), std::string::npos) << text.output;
  // A missing reference model is an error naming it.
  const CliRun r = run("extract --align-to " + f.file("nomodel.safetensors") + " --keys " + f.keys + " --weights " + permuted);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("nomodel.safetensors"), std::string::npos) << r.output;
}

TEST(CliAttack, VerifyThroughAnAttackedService) {
  const Files& f = files();
  const std::string keys = f.file("out.wmk"), marked = f.file("out-marked.safetensors");
  const CliRun e = run("embed --scheme deepsigns-output " + f.data + " --from " + f.trained +
                       " --keys 4 --candidates 20 --key-search random --lr 0.05 --key-seed 1 --keys-out " + keys + " --out " + marked);
  ASSERT_EQ(e.status, 0) << e.output;
  const nlohmann::json clean = run_json("verify --keys " + keys + " --weights " + marked);
  EXPECT_TRUE(clean.value("detected", false)) << clean.dump();
  // Rounding to 6 decimals and tiny query noise change (almost) nothing; the oracle says what it did.
  const nlohmann::json mild = run_json("verify --keys " + keys + " --weights " + marked +
                                       " --round-scores 6 --query-noise 1e-6 --oracle-seed 3");
  EXPECT_NE(mild.value("oracle", "").find("rounded to 6 decimals"), std::string::npos) << mild.dump();
  EXPECT_NE(mild.value("oracle", "").find("inputs + N(0"), std::string::npos) << mild.dump();
  EXPECT_EQ(mild.value("queries", 0), 4);
  EXPECT_EQ(mild["mismatches"], clean["mismatches"]);
  // Scores perturbed far beyond their range: the wrapper is in place and the run still answers.
  const nlohmann::json wild = run_json("verify --keys " + keys + " --weights " + marked + " --perturb-scores 50");
  EXPECT_NE(wild.value("oracle", "").find("scores + N(0"), std::string::npos) << wild.dump();
  for (const std::string& bad : {"--round-scores 9", "--query-noise -1", "--perturb-scores -0.5"}) {
    const CliRun r = run("verify --keys " + keys + " --weights " + marked + " " + bad);
    EXPECT_EQ(r.status, 1) << bad << ": " << r.output;
    EXPECT_NE(r.output.find(bad.substr(0, bad.find(' '))), std::string::npos) << r.output;
  }
}

TEST(CliAttack, TrainProfilePrintsOpsAndLayers) {
  // `signet train --profile` (issue 8): the op-type and layer tables of the training steps.
  const Files& f = files();
  const std::string out = f.file("profiled.safetensors");
  const CliRun r = run("train --model mnist-mlp --epochs 1 --batch-size 50 --profile --out " + out + " " + f.data,
                       /*with_stderr=*/false);
  ASSERT_EQ(r.status, 0) << r.output;
  for (const char* needle : {"optimizer.step", "linear", "fc1"})
    EXPECT_NE(r.output.find(needle), std::string::npos) << "profile should mention " << needle << ":\n" << r.output;
  EXPECT_TRUE(fs::exists(out));
}
