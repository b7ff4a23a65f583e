// Tidy result rows (eval/results.h): CSV and JSON writing and reading back, row filters,
// acceptance checks and the report's tables (eval/report.h).
#include <gtest/gtest.h>

#include <cmath>
#include <unistd.h>

#include <filesystem>

#include "engine/serialize/atomic_file.h"
#include "engine/serialize/file_read.h"
#include "eval/cell.h"
#include "eval/report.h"
#include "eval/results.h"
#include "eval/runner.h"
#include "watermark/verify/stats.h"

using namespace signet;
using namespace signet::eval;
namespace fs = std::filesystem;

namespace {
std::vector<Row> sample_rows() {
  Row a;
  a.config = "t";
  a.model = "mnist-mlp";
  a.scheme = "deepsigns-hidden";
  a.watermark = "hidden N=32";
  a.bits = 32;
  a.attack = "prune";
  a.strength = 0.5;
  a.seed = 1;
  a.extraction = "plain";
  a.test_accuracy = 0.88;
  a.marked_accuracy = 0.89;
  a.metric = "ber";
  a.value = 0;
  a.threshold = 0.0625;
  a.p_value = 2.3e-10;
  a.detected = 1;
  a.attack_success = 0;
  a.seconds = 1.5;
  a.note = "has, comma and \"quotes\"";
  Row b = a;
  b.strength = 0.99;
  b.test_accuracy = 0.3;
  b.value = 0.5;
  b.p_value = 0.5;
  b.detected = 0;
  b.attack_success = 0;
  b.note = "";
  return {a, b};
}
}  // namespace

TEST(EvalResults, CsvHasEveryColumnAndQuotesFields) {
  const std::string csv = rows_to_csv(sample_rows());
  const std::string header = csv.substr(0, csv.find('\n'));
  EXPECT_EQ(header.rfind("config,dataset,model,scheme,watermark,bits,keys,attack,strength,seed,extraction,", 0), 0u);
  for (const char* col : {"test_accuracy", "metric", "value", "threshold", "p_value", "detected", "seconds"})
    EXPECT_NE(header.find(col), std::string::npos) << col;
  EXPECT_NE(csv.find("\"has, comma and \"\"quotes\"\"\""), std::string::npos);
  EXPECT_NE(csv.find(",32,,prune,0.5,1,plain,marked,0.88,0.89,,ber,0,0.0625,2.3e-10,true,false,1.5,"),
            std::string::npos)
      << csv;
}

TEST(EvalResults, JsonRoundTripsAndUsesNullForMissing) {
  const auto rows = sample_rows();
  const nlohmann::json j = rows_to_json(rows);
  ASSERT_EQ(j.size(), 2u);
  EXPECT_TRUE(j[0]["keys"].is_null());
  EXPECT_TRUE(j[0]["unmarked_accuracy"].is_null());
  EXPECT_EQ(j[0]["detected"], true);
  EXPECT_EQ(j[0]["bits"], 32);
  const std::string dir = (fs::temp_directory_path() / ("signet_eval_" + std::to_string(getpid()))).string();
  write_results(dir, rows);
  const auto back = read_results(dir + "/results.json");
  EXPECT_EQ(rows_to_csv(back), rows_to_csv(rows));
  EXPECT_EQ(read_file(dir + "/results.csv"), rows_to_csv(rows));
  fs::remove_all(dir);
}

TEST(EvalResults, RowFiltersCompareNumbersAsNumbers) {
  const Row r = sample_rows()[0];
  EXPECT_TRUE(row_matches(r, {{"strength", "0.50"}, {"model", "mnist-mlp"}}));
  EXPECT_TRUE(row_matches(r, {{"detected", "1"}}));
  EXPECT_TRUE(row_matches(r, {{"detected", "true"}}));
  EXPECT_FALSE(row_matches(r, {{"strength", "0.9"}}));
  EXPECT_FALSE(row_matches(r, {{"attack", "finetune"}}));
}

TEST(EvalResults, HiddenThresholdIsTheLargestClaimedBer) {
  EXPECT_DOUBLE_EQ(ber_threshold(32, 1e-6), 2.0 / 32);  // 30 of 32 bits: p = 1.2e-7
  EXPECT_TRUE(std::isnan(ber_threshold(16, 1e-6)));     // 2^-16 > 1e-6
  EXPECT_DOUBLE_EQ(ber_threshold(16, 1e-3), 1.0 / 16);
}

TEST(EvalResults, ChecksAndReportTables) {
  Config c;
  c.name = "t";
  c.title = "Title";
  c.path = "experiments/t.toml";
  c.checks = {{"detected at 0.5", "all_detected", {{"strength", "0.5"}}, 0},
              {"detected everywhere", "all_detected", {}, 0},
              {"no successful attack", "no_attack_success", {}, 0},
              {"BER at most 0.1", "max_value", {{"strength", "0.5"}}, 0.1},
              {"nothing matches", "none_detected", {{"model", "resnet50"}}, 0}};
  PaperRow p;
  p.setting = "MNIST, 90% pruning";
  p.match = {{"model", "mnist-mlp"}};
  p.summary = "max_detected_strength";
  p.metric = "BER 0";
  c.paper_rows = {p};
  const auto rows = sample_rows();
  const auto checks = evaluate_checks(c, rows);
  ASSERT_EQ(checks.size(), 5u);
  EXPECT_TRUE(checks[0].passed);
  EXPECT_FALSE(checks[1].passed);
  EXPECT_TRUE(checks[2].passed);  // the 0.99 model lost 59 points: not a successful attack
  EXPECT_TRUE(checks[3].passed);
  EXPECT_FALSE(checks[4].passed);
  EXPECT_EQ(checks[4].detail, "no matching rows");
  RunOptions o;
  const std::string md = report_markdown(c, o, rows, checks, 90, true);
  EXPECT_NE(md.find("# Title"), std::string::npos);
  EXPECT_NE(md.find("signet evaluate --config experiments/t.toml"), std::string::npos);
  EXPECT_NE(md.find("| detected at 0.5 | 1 of 1 rows"), std::string::npos) << md;
  EXPECT_NE(md.find("detected at every strength up to 0.5 (accuracy 88.00%)"), std::string::npos) << md;
  EXPECT_NE(md.find("first missed at 0.99 (accuracy 30.00%)"), std::string::npos) << md;
  EXPECT_NE(md.find("| mnist-mlp | hidden N=32 | prune | 0.99 | plain | 1 | 30.00% | -59.00 pts | ber | 0.5000 |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("![t](t.png)"), std::string::npos);
}

namespace signet::eval {
namespace {

// An integrity row mixing a hidden mark (BER) and an output mark (mismatches) reports one range
// and one threshold per metric, never a range from a BER to a mismatch count.
TEST(EvalResults, DetectedCountKeepsEachMetricApart) {
  Config c;
  c.name = "integrity";
  c.title = "Integrity";
  c.path = "experiments/integrity.toml";
  PaperRow p;
  p.setting = "unmarked models";
  p.summary = "detected_count";
  c.paper_rows = {p};
  std::vector<Row> rows = sample_rows();
  rows[0].value = 0.4375, rows[1].value = 0.5;
  rows[0].detected = rows[1].detected = 0;
  Row out = rows[0];
  out.watermark = "output K=20";
  out.metric = "mismatches";
  out.value = 19;
  out.threshold = 13;
  rows.push_back(out);
  out.value = 17;
  rows.push_back(out);
  RunOptions o;
  o.build = "signet 9.9 (commit abc)";
  o.date = "2026-01-02 03:04 UTC";
  o.machine = "Test CPU, 2 cores";
  const std::string md = report_markdown(c, o, rows, {}, 60, false);
  EXPECT_NE(md.find("ber 0.4375–0.5000 (threshold 0.0625; 2 rows); mismatches 17–19 (threshold 13; 2 rows)"),
            std::string::npos)
      << md;
  EXPECT_EQ(md.find("0.4375–19"), std::string::npos) << md;
  EXPECT_NE(md.find("0 of 4 detected"), std::string::npos) << md;
  EXPECT_NE(md.find("Run: 2026-01-02 03:04 UTC; build: signet 9.9 (commit abc); machine: Test CPU, 2 cores."),
            std::string::npos)
      << md;

  // A key too short to reach alpha has no threshold and no decision: it widens the value range,
  // never the threshold's, and is counted apart.
  Row short_key = rows[0];
  short_key.value = 0.75, short_key.threshold = std::nan(""), short_key.detected = -1;
  rows.push_back(short_key);
  const std::string md2 = report_markdown(c, o, rows, {}, 60, false);
  EXPECT_NE(md2.find("ber 0.4375–0.7500 (threshold 0.0625; 3 rows, 1 without a decision)"), std::string::npos) << md2;
  EXPECT_NE(md2.find("0 of 4 detected"), std::string::npos) << md2;
}

TEST(EvalResults, ReportNamesThisMachineWhenTheRunDidNotRecordOne) {
  const std::string m = machine_description();
  EXPECT_NE(m.find(" cores"), std::string::npos) << m;
  EXPECT_EQ(utc_now().size(), std::string("2026-01-02 03:04 UTC").size()) << utc_now();
}

}  // namespace
}  // namespace signet::eval
