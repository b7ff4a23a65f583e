// Tidy result rows of an evaluation grid: one row per cell and extraction, the same columns in
// every row (empty / null where a column does not apply), written as CSV and JSON.
//
// Columns (column_names(), in this order):
//   config, dataset, model, scheme, watermark (variant label, e.g. "hidden N=32"), bits (hidden
//   N) / keys (output K), attack, strength, seed, extraction ("plain" | "aligned" | "labels" |
//   "attacker": the attacker's own mark after overwriting), suspect (integrity: the unmarked
//   model queried; otherwise "marked"),
//   test_accuracy (of the model the watermark is extracted from), marked_accuracy (the marked
//   model before the attack), unmarked_accuracy (the unmarked model of the same recipe),
//   metric ("ber" | "mismatches" | "runtime_ratio"; "embedding_failed": the marked model's
//   training diverged, no value, detected false), value, threshold (hidden: the largest BER
//   with p <= alpha; output: theta, detected when mismatches < theta), p_value, detected,
//   attack_success (robustness SoK: accuracy within 5 points of the marked model AND not
//   detected; empty for attack "none" / "unmarked"), seconds (this cell: attack + extraction),
//   embed_seconds (making the marked model: training with the mark, or key search + fine-tuning),
//   baseline_seconds (overhead: training the unmarked model in the same run), note.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace signet::eval {

// quiet_NaN, not std::nan(""): only the former is a constant expression in every compiler (clang).
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct Row {
  std::string config, dataset, model, scheme, watermark;
  int64_t bits = -1, keys = -1;  // -1: n/a
  std::string attack;
  double strength = 0;
  uint64_t seed = 0;
  std::string extraction, suspect = "marked";
  double test_accuracy = kNaN, marked_accuracy = kNaN, unmarked_accuracy = kNaN;
  std::string metric;
  double value = kNaN, threshold = kNaN, p_value = kNaN;
  int detected = -1, attack_success = -1;  // -1: n/a, 0 / 1
  double seconds = kNaN, embed_seconds = kNaN, baseline_seconds = kNaN;
  std::string note;
};

const std::vector<std::string>& column_names();
// A column's value as text: numbers "%.6g" (integers plain), booleans true/false, n/a "".
std::string cell_text(const Row& r, const std::string& column);
// A column's value as a number (NaN when empty or not numeric; booleans 0/1).
double cell_number(const Row& r, const std::string& column);
// Does the row match every column = value of `match` (numbers compared as numbers)?
bool row_matches(const Row& r, const std::map<std::string, std::string>& match);

std::string rows_to_csv(const std::vector<Row>& rows);
nlohmann::json rows_to_json(const std::vector<Row>& rows);
std::vector<Row> rows_from_json(const nlohmann::json& j);
// Atomic writes (temporary file + rename).
void write_results(const std::string& dir, const std::vector<Row>& rows);  // dir/results.{csv,json}
std::vector<Row> read_results(const std::string& json_path);

}  // namespace signet::eval
