// Runs an experiment config (eval/config.h): expands the grid (eval/grid.h), takes or makes the
// models (eval/cache.h), runs every cell (eval/cell.h) under a progress bar, writes
// runs/<name>/results.{csv,json} after every cell, then the report reports/<name>.md with its
// figure (gnuplot: reports/<name>.{png,svg}) and a copy of the CSV (reports/<name>.csv).
#pragma once
#include <string>
#include <vector>

#include "eval/config.h"
#include "eval/results.h"
#include "models/recipes.h"

namespace signet::eval {

struct RunOptions {
  std::string cache_dir = "runs/cache";
  std::string runs_dir = "runs";
  std::string reports_dir = "reports";
  std::string command;    // the command line, quoted in the report
  // Where the results come from, named in the report: the signet build (version and commit),
  // and, when a report is remade from a run's results, that run's date and machine (empty:
  // now and this machine).
  std::string build, date, machine;
  int threads = 0;  // the run's thread count (0: this process's)
  bool progress = true;   // the grid progress bar on stderr
  bool report = true;     // write reports/<name>.* (false: results only)
  // Tests: use these splits instead of loading the config's data set (the cache still files the
  // models under the config's data set name).
  const RecipeData* data = nullptr;
};

struct CheckResult {
  std::string claim;
  bool passed = false;
  std::string detail;
};

struct RunSummary {
  std::vector<Row> rows;
  std::vector<CheckResult> checks;
  double seconds = 0;
  std::string results_csv, results_json, report_md;
  std::vector<std::string> figures;  // written figure files (empty without gnuplot)
};

// The cells with what each needs from the cache ("cached" / "to train" / "to embed").
std::string dry_run_listing(const Config& c, const RunOptions& o);
RunSummary run_config(const Config& c, const RunOptions& o);
// The report (and figure) from rows already computed (`seconds`: the run's duration).
RunSummary write_report(const Config& c, const RunOptions& o, const std::vector<Row>& rows, double seconds);

std::vector<CheckResult> evaluate_checks(const Config& c, const std::vector<Row>& rows);

}  // namespace signet::eval
