// kind = "overhead" (DeepSigns Section 4.5, Figure 9): what a watermark costs in training time.
//
// Equal epochs (target_share = 0): the unmarked model is trained now and the marked one embedded
//   now; one row, metric "runtime_ratio". Marks trained from scratch: marked / unmarked training
//   time at equal epochs (key generation and class means included). Marks that fine-tune a
//   trained model: (unmarked training + embedding) / unmarked training.
// Time to accuracy (target_share in (0, 1]; the paper's measure, "to reach the same accuracy"):
//   both models train with test-accuracy probes (probes_per_epoch; evaluation time is left out of
//   the training time), and the target is target_share x the unmarked model's final accuracy.
//   A mark trained from scratch gives three rows:
//     "tta_ratio"        (one-off seconds + the marked model's training time to its first probe at
//                        >= target) / (the unmarked model's training time to its first probe at
//                        >= target). NaN, with a note, when the marked model never gets there.
//                        baseline_seconds and embed_seconds hold the two times.
//     "one_off_seconds"  embedding time outside the training loop (key generation, class means).
//     "step_share"       (marked - unmarked training time) / marked training time, over the same
//                        epochs and steps: the share of each step the mark's terms take.
//   A mark that fine-tunes a trained model gives the equal-epochs "runtime_ratio" row: its
//   training run is the unmarked one, so there is no second curve to race.
#pragma once
#include <string>
#include <vector>

#include "eval/cell.h"

namespace signet::eval {

void run_overhead_cell(const Cell& cell, const BaseModel& base, RunContext& ctx, std::vector<Row>& out);

// Training seconds at the first probe whose accuracy is >= target; NaN when none is.
double time_to_accuracy(const std::vector<AccuracyProbe>& curve, double target);

// The two-sided 95% quantile of Student's t with `df` degrees of freedom (df >= 1).
double student_t_975(int64_t df);

// For every (model, watermark) with tta_ratio rows: seeds, mean ratio with its 95% Student-t
// interval over the seeds, the mean target and times, one-off seconds and step share. "" when no
// row is a tta_ratio row.
std::string time_to_accuracy_markdown(const std::vector<Row>& rows);

}  // namespace signet::eval
