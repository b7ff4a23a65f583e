// A tiny config run end to end on the banded data set (tests/watermark/banded_dataset.h): the
// cache is filled and reused, results and report are written, the permutation attack breaks
// plain extraction and alignment restores it, and the figure is drawn when gnuplot is present.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "engine/serialize/atomic_file.h"
#include "engine/serialize/file_read.h"
#include "eval/config.h"
#include "eval/figure.h"
#include "eval/runner.h"
#include "tests/watermark/banded_dataset.h"

using namespace signet;
using namespace signet::eval;
namespace fs = std::filesystem;

namespace {
const char* kTiny = R"(
name = "tiny"
title = "Tiny end-to-end grid"
dataset = "banded"
seeds = [1]
alpha = 1e-3

[[models]]
name = "mnist-mlp"
epochs = 2

[[schemes]]
scheme = "deepsigns-hidden"
bits = 16
epochs = 12
lambda2 = 1.0
key_fraction = 0.2

[[attacks]]
attack = "none"
extraction = ["plain", "aligned"]

[[attacks]]
attack = "permute"
extraction = ["plain", "aligned"]

[[attacks]]
attack = "prune"
strengths = [0.5]
finetune_epochs = 0

[[attacks]]
attack = "unmarked"
same_seeds = [2]

[figure]
x = "attack"
categorical_x = true
series = ["extraction"]
style = "points"

[[checks]]
claim = "the marked model is detected"
where = { attack = "none" }
expect = "all_detected"

[[checks]]
claim = "alignment restores BER 0"
where = { attack = "permute", extraction = "aligned" }
expect = "max_value"
value = 0
)";

struct TempDir {
  std::string path = (fs::temp_directory_path() / ("signet_eval_e2e_" + std::to_string(getpid()))).string();
  ~TempDir() { fs::remove_all(path); }
};

// Cache, runs and reports under tmp; the data given (nullptr: the config's); no progress bar.
RunOptions options_in(const TempDir& tmp, const RecipeData* data) {
  RunOptions o;
  o.cache_dir = tmp.path + "/cache";
  o.runs_dir = tmp.path + "/runs";
  o.reports_dir = tmp.path + "/reports";
  o.progress = false;
  o.data = data;
  return o;
}
}  // namespace

TEST(EvalEndToEnd, TinyGridWritesResultsReportAndReusesTheCache) {
  TempDir tmp;
  const Config c = parse_config(kTiny, "tiny.toml");
  RecipeData data{signet::test::banded(400, 2), signet::test::banded(200, 3)};
  RunOptions o = options_in(tmp, &data);
  const RunSummary s = run_config(c, o);

  ASSERT_EQ(s.rows.size(), 6u);  // none x2, permute x2, prune, unmarked suspect
  const std::string cache = tmp.path + "/cache/banded";
  EXPECT_TRUE(fs::exists(cache + "/mnist-mlp-e2-s1.safetensors"));
  EXPECT_TRUE(fs::exists(cache + "/mnist-mlp-e2-s1.json"));
  EXPECT_TRUE(fs::exists(cache + "/mnist-mlp-e2-s2.safetensors"));
  EXPECT_TRUE(fs::is_directory(cache + "/marked"));
  for (const Row& r : s.rows) {
    EXPECT_EQ(r.config, "tiny");
    EXPECT_EQ(r.metric, "ber");
    EXPECT_FALSE(std::isnan(r.test_accuracy));
    if (r.attack == "none") {
      EXPECT_EQ(r.value, 0) << r.extraction;
      EXPECT_EQ(r.detected, r.extraction == "aligned" ? -1 : 1);  // aligned: BER only, no decision
    }
    if (r.attack == "permute" && r.extraction == "plain") {
      EXPECT_GT(r.value, 0.1);
      EXPECT_EQ(r.detected, 0);
      EXPECT_EQ(r.attack_success, 1);  // same function: accuracy unchanged, mark gone
      EXPECT_NEAR(r.test_accuracy, r.marked_accuracy, 1e-9);
    }
    if (r.attack == "permute" && r.extraction == "aligned") {
      EXPECT_EQ(r.value, 0);
      EXPECT_TRUE(std::isnan(r.p_value));
    }
    if (r.attack == "unmarked") {
      EXPECT_EQ(r.suspect, "mnist-mlp-s2");
      EXPECT_EQ(r.detected, 0);
    }
  }
  for (const CheckResult& k : s.checks) EXPECT_TRUE(k.passed) << k.claim << ": " << k.detail;
  EXPECT_TRUE(fs::exists(tmp.path + "/runs/tiny/results.csv"));
  EXPECT_TRUE(fs::exists(tmp.path + "/runs/tiny/results.json"));
  EXPECT_TRUE(fs::exists(tmp.path + "/reports/tiny.csv"));
  const std::string md = read_file(tmp.path + "/reports/tiny.md");
  EXPECT_NE(md.find("# Tiny end-to-end grid"), std::string::npos);
  EXPECT_NE(md.find("| alignment restores BER 0 |"), std::string::npos);
  if (have_gnuplot()) {
    EXPECT_TRUE(fs::exists(tmp.path + "/reports/tiny.png"));
    EXPECT_TRUE(fs::exists(tmp.path + "/reports/tiny.svg"));
    EXPECT_NE(md.find("![tiny](tiny.png)"), std::string::npos);
  } else {
    EXPECT_TRUE(s.figures.empty());
  }

  // A second run takes every model from the cache and gives the same numbers.
  const auto before = fs::last_write_time(cache + "/mnist-mlp-e2-s1.safetensors");
  const RunSummary again = run_config(c, o);
  EXPECT_EQ(fs::last_write_time(cache + "/mnist-mlp-e2-s1.safetensors"), before);
  ASSERT_EQ(again.rows.size(), s.rows.size());
  for (size_t i = 0; i < s.rows.size(); ++i) {
    EXPECT_EQ(again.rows[i].value, s.rows[i].value);
    EXPECT_EQ(again.rows[i].test_accuracy, s.rows[i].test_accuracy);
  }
}

TEST(EvalEndToEnd, FigureSkipsCleanlyWithoutGnuplotOrRows) {
  Config c = parse_config(kTiny, "tiny.toml");
  TempDir tmp;
  // No rows match: no script, no files.
  EXPECT_EQ(figure_script(c, {}, tmp.path, "svg", tmp.path + "/x.svg"), "");
  EXPECT_TRUE(draw_figure(c, {}, tmp.path + "/x", tmp.path).empty());
  if (!have_gnuplot()) GTEST_SKIP() << "gnuplot not installed: figures are skipped with a message";
  Row r;
  r.attack = "permute";
  r.extraction = "plain";
  r.metric = "ber";
  r.value = 0.5;
  r.threshold = 0.1;
  const std::string script = figure_script(c, {r}, tmp.path, "svg", tmp.path + "/x.svg");
  EXPECT_NE(script.find("set terminal svg"), std::string::npos);
  EXPECT_NE(script.find("\"permute\" 0"), std::string::npos) << script;
  EXPECT_EQ(draw_figure(c, {r}, tmp.path + "/x", tmp.path).size(), 2u);
}

// `pad_to`, `train_limit` and `test_limit` shape the data of every cell as `signet train`'s flags
// do, and the models are filed under a cache directory that names the shaping.
TEST(EvalEndToEnd, ShapedDataIsPaddedSubsetAndCachedApart) {
  TempDir tmp;
  const Config c = parse_config(R"(
name = "shaped"
title = "Padded subset"
dataset = "synthetic:1x28x28:10:300:100:3"
pad_to = 32
train_limit = 120
test_limit = 50

[[models]]
name = "mnist-mlp"
epochs = 1

[[schemes]]
scheme = "uchida"
bits = 16
lambda = 1.0
epochs = 3

[[attacks]]
attack = "none"
)", "shaped.toml");
  RunOptions o = options_in(tmp, nullptr);
  o.report = false;
  const RunSummary s = run_config(c, o);
  ASSERT_EQ(s.rows.size(), 1u);
  const std::string dir = tmp.path + "/cache/synthetic_1x28x28_10_300_100_3-pad32-train120-test50";
  const nlohmann::json base = nlohmann::json::parse(read_file(dir + "/mnist-mlp-e1-s1.json"));
  EXPECT_EQ(base.at("input_shape"), nlohmann::json::array({1, 32, 32}));
  EXPECT_EQ(base.at("train_size"), 120);
  EXPECT_EQ(base.at("test_size"), 50);
  EXPECT_EQ(base.at("pad_to"), 32);
  EXPECT_EQ(s.rows[0].value, 0);  // the mark reads back from the padded model
}

// A mark whose training diverges is an outcome, not a crash: the grid goes on, each of its cells
// reports "embedding_failed" (not detected: the owner has no marked model; no decision on an
// unmarked suspect), and a check that the mark is detected fails.
TEST(EvalEndToEnd, ADivergedEmbeddingIsReportedAndTheGridGoesOn) {
  TempDir tmp;
  const Config c = parse_config(R"(
name = "diverges"
title = "A mark trained at a rate that diverges"
dataset = "banded"
[[models]]
name = "mnist-mlp"
epochs = 1
[[schemes]]
scheme = "deepsigns-hidden"
bits = 16
epochs = 2
lr = 10
lambda1 = 1000
lambda2 = 1000
[[attacks]]
attack = "none"
[[attacks]]
attack = "unmarked"
same_seeds = [2]
[[checks]]
claim = "the marked model is detected"
where = { attack = "none" }
expect = "all_detected"
)",
                                "diverges.toml");
  RecipeData data{signet::test::banded(400, 2), signet::test::banded(200, 3)};
  RunOptions o = options_in(tmp, &data);
  const RunSummary s = run_config(c, o);
  ASSERT_EQ(s.rows.size(), 2u);
  for (const Row& r : s.rows) {
    EXPECT_EQ(r.metric, "embedding_failed");
    EXPECT_TRUE(std::isnan(r.value));
    EXPECT_NE(r.note.find("training loss became"), std::string::npos) << r.note;
  }
  EXPECT_EQ(s.rows[0].detected, 0);
  EXPECT_EQ(s.rows[1].detected, -1);
  EXPECT_EQ(s.rows[1].suspect, "mnist-mlp-s2");
  ASSERT_EQ(s.checks.size(), 1u);
  EXPECT_FALSE(s.checks[0].passed) << s.checks[0].detail;
  EXPECT_NE(read_file(tmp.path + "/reports/diverges.md").find("embedding_failed"), std::string::npos);
}
