// The figure of a config ([figure] table, eval/config.h), drawn with gnuplot from the result rows:
// panels by `rows` x `cols` columns, one line (or set of boxes) per `series` combination, y
// against x (rows sharing panel, series and x, e.g. several seeds, are averaged), the
// `threshold` column as a dashed line, `y2` (accuracy columns in %) on the right axis.
// Writes <base>.png and <base>.svg (atomically); the data and script go to work_dir.
#pragma once
#include <string>
#include <vector>

#include "eval/config.h"
#include "eval/results.h"

namespace signet::eval {

bool have_gnuplot();
// The gnuplot script for the figure (data written to work_dir/figure.dat); "" when no row matches.
std::string figure_script(const Config& c, const std::vector<Row>& rows, const std::string& work_dir,
                          const std::string& terminal, const std::string& output);
// Draws the figure; returns the files written (empty without gnuplot or without a [figure]).
std::vector<std::string> draw_figure(const Config& c, const std::vector<Row>& rows, const std::string& base,
                                     const std::string& work_dir);

}  // namespace signet::eval
