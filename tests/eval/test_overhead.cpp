// Time to accuracy (eval/overhead.h): the trainer's accuracy probes, the first crossing of a
// target, the Student-t interval, and an overhead config in that mode run end to end.
#include <gtest/gtest.h>

#include <cstdio>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <thread>

#include "engine/serialize/file_read.h"
#include "eval/config.h"
#include "eval/overhead.h"
#include "eval/runner.h"
#include "models/registry.h"
#include "tests/watermark/banded_dataset.h"

using namespace signet;
using namespace signet::eval;
namespace fs = std::filesystem;

TEST(Overhead, TimeToAccuracyIsTheFirstProbeAtOrAboveTheTarget) {
  const std::vector<AccuracyProbe> curve = {{1.0, 0.50}, {2.0, 0.80}, {3.0, 0.75}, {4.0, 0.90}};
  EXPECT_EQ(time_to_accuracy(curve, 0.80), 2.0);  // reached at 2 s, even though it dips after
  EXPECT_EQ(time_to_accuracy(curve, 0.85), 4.0);
  EXPECT_EQ(time_to_accuracy(curve, 0.10), 1.0);
  EXPECT_TRUE(std::isnan(time_to_accuracy(curve, 0.95)));
  EXPECT_TRUE(std::isnan(time_to_accuracy({}, 0.5)));
}

TEST(Overhead, StudentQuantilesMatchTheTables) {
  EXPECT_NEAR(student_t_975(1), 12.706, 1e-3);
  EXPECT_NEAR(student_t_975(2), 4.303, 1e-3);
  EXPECT_NEAR(student_t_975(30), 2.042, 1e-3);
  EXPECT_NEAR(student_t_975(40), 2.0211, 2e-4);   // exact 2.02108
  EXPECT_NEAR(student_t_975(120), 1.9799, 2e-4);  // exact 1.97993
  EXPECT_THROW(student_t_975(0), Error);
}

TEST(Overhead, TrainerProbesEvenlyAndLeavesTheProbesTimeOut) {
  const Dataset train = signet::test::banded(300, 2);
  Rng init(1);
  Model m = build_model("mnist-mlp", config_for_dataset(train), init);
  TrainConfig cfg;
  cfg.epochs = 2;
  cfg.batch_size = 32;  // 10 steps an epoch
  cfg.progress = false;
  cfg.probes_per_epoch = 3;
  std::vector<double> seen;
  bool always_training = true;
  cfg.probe = [&](Model& model, double seconds) {
    always_training = always_training && model.net->is_training();
    seen.push_back(seconds);
    model.net->eval();  // the trainer must switch back
    std::this_thread::sleep_for(std::chrono::milliseconds(40));
  };
  const auto t0 = std::chrono::steady_clock::now();
  const TrainResult r = train_model(m, train, normalization_of(train), cfg);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(seen.size(), 6u);
  EXPECT_TRUE(always_training);
  for (size_t i = 1; i < seen.size(); ++i) EXPECT_GE(seen[i], seen[i - 1]);
  EXPECT_LE(seen.back(), r.train_seconds + 1e-9);
  EXPECT_GE(wall - r.train_seconds, 6 * 0.040);  // the sleeps are not training time

  TrainConfig bad = cfg;
  bad.probes_per_epoch = -1;
  EXPECT_THROW(train_model(m, train, normalization_of(train), bad), Error);
}

namespace {
const char* kRace = R"(
name = "race"
title = "Tiny time-to-accuracy race"
kind = "overhead"
dataset = "banded"
seeds = [1, 2]
alpha = 1e-3
target_share = 0.9
probes_per_epoch = 2

[[models]]
name = "mnist-mlp"
epochs = 3

[[schemes]]
scheme = "deepsigns-hidden"
bits = 16
lambda2 = 1.0
key_fraction = 0.2
)";
// A scratch directory for one run of a config on the banded data set.
struct TempRun {
  std::string path = (fs::temp_directory_path() / ("signet_overhead_" + std::to_string(getpid()))).string();
  RecipeData data{signet::test::banded(400, 2), signet::test::banded(200, 3)};
  RunOptions options;
  TempRun() {
    options.cache_dir = path + "/cache";
    options.runs_dir = path + "/runs";
    options.reports_dir = path + "/reports";
    options.progress = false;
    options.data = &data;
  }
  ~TempRun() { fs::remove_all(path); }
};
}  // namespace

TEST(Overhead, TimeToAccuracyConfigGivesRatioOneOffAndShareRows) {
  TempRun tmp;
  const Config c = parse_config(kRace, "race.toml");
  EXPECT_EQ(c.target_share, 0.9);
  EXPECT_EQ(c.probes_per_epoch, 2);
  const RunSummary s = run_config(c, tmp.options);
  ASSERT_EQ(s.rows.size(), 6u);  // two seeds x (tta_ratio, one_off_seconds, step_share)
  for (size_t i = 0; i < s.rows.size(); i += 3) {
    const Row& ratio = s.rows[i];
    EXPECT_EQ(ratio.metric, "tta_ratio");
    EXPECT_GT(ratio.baseline_seconds, 0);
    EXPECT_GT(ratio.embed_seconds, 0);
    EXPECT_NEAR(ratio.value, ratio.embed_seconds / ratio.baseline_seconds, 1e-12);
    EXPECT_EQ(ratio.detected, 1);
    EXPECT_NE(ratio.note.find("target"), std::string::npos);
    EXPECT_EQ(s.rows[i + 1].metric, "one_off_seconds");
    const Row& once = s.rows[i + 1];
    EXPECT_GT(once.value, 0);  // key generation and class means take some time
    EXPECT_EQ(once.detected, -1);
    // The probes are the measurement, not the mark's cost: their time is out of the one-off.
    double train = -1, probes = -1;
    ASSERT_EQ(std::sscanf(once.note.c_str() + once.note.find("(training"), "(training %lfs and accuracy probes %lfs",
                          &train, &probes), 2) << once.note;
    EXPECT_GT(probes, 0);
    EXPECT_NEAR(once.value, once.embed_seconds - train - probes, 0.02);
    EXPECT_EQ(s.rows[i + 2].metric, "step_share");
    EXPECT_LT(s.rows[i + 2].value, 1);
  }
  const std::string md = read_file(tmp.path + "/reports/race.md");
  EXPECT_NE(md.find("## Time to accuracy"), std::string::npos);
  EXPECT_NE(md.find("| mnist-mlp | hidden N=16 | 2/2 |"), std::string::npos) << md;
}

TEST(Overhead, TargetShareIsForTheOverheadKindOnly) {
  const std::string grid = R"(
name = "g"
title = "g"
target_share = 0.9
[[models]]
name = "mnist-mlp"
[[schemes]]
scheme = "deepsigns-hidden"
[[attacks]]
attack = "none"
)";
  try {
    parse_config(grid, "g.toml");
    FAIL() << "a grid with target_share parsed";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("target_share"), std::string::npos) << e.what();
  }
}

namespace {
const char* kControl = R"(
name = "control"
title = "Tiny same-training control"
dataset = "banded"
seeds = [1]

[[models]]
name = "mnist-mlp"
epochs = 2

[[schemes]]
scheme = "deepsigns-output"
keys = 10

[[attacks]]
attack = "none"

[[attacks]]
attack = "control"
)";
}  // namespace

// The output mark's start, fine-tuned as long without its keys: accuracy measured, not claimed.
TEST(Overhead, ControlFineTunesTheMarksStartWithoutTheKeys) {
  TempRun tmp;
  const RunSummary s = run_config(parse_config(kControl, "control.toml"), tmp.options);
  ASSERT_EQ(s.rows.size(), 2u);
  const Row& marked = s.rows[0];
  const Row& control = s.rows[1];
  EXPECT_EQ(marked.detected, 1);
  EXPECT_EQ(control.attack, "control");
  EXPECT_NE(control.suspect.find("without keys"), std::string::npos) << control.suspect;
  EXPECT_FALSE(std::isnan(control.test_accuracy));
  EXPECT_EQ(control.detected, 0) << control.note;
  EXPECT_EQ(control.attack_success, -1);  // a control, not an attack

  // A mark trained from scratch has no fine-tuning to control for.
  std::string hidden = kControl;
  hidden.replace(hidden.find("scheme = \"deepsigns-output\"\nkeys = 10"), 37, "scheme = \"deepsigns-hidden\"\nbits = 16");
  try {
    run_config(parse_config(hidden, "hidden.toml"), tmp.options);
    FAIL() << "control on a mark from scratch ran";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("applies to marks that fine-tune a trained model"), std::string::npos)
        << e.what();
  }
}
