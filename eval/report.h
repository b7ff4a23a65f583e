// The generated report of a config: reports/<name>.md (settings, acceptance checks, our numbers
// beside the paper's, the results table averaged over seeds, the figure) and reports/<name>.csv
// (every row, so the numbers are committed with the report).
#pragma once
#include <string>
#include <vector>

#include "eval/runner.h"

namespace signet::eval {

// "CPU model, N cores, kernel": the machine a run is on, for reports (from /proc/cpuinfo and uname).
std::string machine_description();
// The current time, "YYYY-MM-DD HH:MM UTC".
std::string utc_now();

// Writes <base>.md and <base>.csv (atomically).
void write_report_files(const Config& c, const RunOptions& o, const std::vector<Row>& rows,
                        const std::vector<CheckResult>& checks, double seconds, bool figure, const std::string& base);
// The markdown text (exposed for tests).
std::string report_markdown(const Config& c, const RunOptions& o, const std::vector<Row>& rows,
                            const std::vector<CheckResult>& checks, double seconds, bool figure);

}  // namespace signet::eval
