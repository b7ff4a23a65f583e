// One grid cell: attack the marked model (or take an unmarked suspect), measure test accuracy,
// extract the owner's watermark, and append tidy rows (eval/results.h).
//
// Attacks (watermark/attacks/attacks.h; none sees the owner's keys), at strength s:
//   none       the marked model itself
//   finetune   s epochs of plain cross-entropy at `lr` (constant; the paper's "final learning
//              rate"), data order seeded by the cell's seed; with cumulative = true the strengths
//              continue one model (s are totals; segment k is seeded seed + epochs so far)
//   prune      magnitude pruning of the fraction s of every weight tensor, then finetune_epochs of
//              sparse fine-tuning at `lr` (pruned weights stay zero)
//   quantize   every weight tensor to 2^s levels
//   permute    the units of `layers` (default: the mark's layer; ["all"]: every hidden layer)
//              permuted with the cell's seed
//   overwrite  the attacker embeds its own mark of the same scheme through Scheme::embed on the
//              stolen model (the owner's options but not its personal ones, e.g. a signature
//              string; size attacker_bits / attacker_keys, else the owner's; key seed and data
//              order seed + 1000), s epochs at `lr` (or the scheme's epoch limit); an extra row
//              (extraction "attacker") reads the attacker's mark
//   distill    the thief trains a fresh model (`student`, default the same architecture,
//              initialised from seed + 2000) for s epochs at `lr` on the marked model's answers
//              (`answers`: labels or scores) to `samples` of the training inputs (0: all)
//   control    marks that fine-tune a trained model: that unmarked model fine-tuned as many epochs
//              as the embedding took, at its rate (constant), on the whole training set, without
//              the keys (the extra training's own effect on accuracy; the keys must not claim it)
//   unmarked   the suspect is an unmarked model (integrity); the keys are those the scheme reads
//              a suspect of that architecture with (Scheme::for_suspect: deepsigns-hidden reads
//              the suspect's own second-to-last layer when it is another architecture)
//   input-noise / score-rounding / score-perturbation   schemes with black-box verification are
//              queried through the oracle wrapper (watermark/attacks/oracle_attacks.h); test
//              accuracy is the service's (its answers on the test set)
// Extraction: schemes with black-box verification through a label oracle ("labels"); the others
// white-box per the attack's `extraction` ("plain": Scheme::extract; "aligned":
// Scheme::extract_aligned against the marked model: reported without p-value or decision, since
// alignment pulls unrelated models onto the owner's reference too). alpha: the config's, else
// the scheme's default for the keys.
#pragma once
#include <chrono>
#include <string>
#include <vector>

#include "eval/cache.h"
#include "eval/results.h"

namespace signet::eval {

struct RunContext {
  const Config& cfg;
  ModelCache& cache;
  const RecipeData& data;
};

// The model a cumulative fine-tuning attack continues from.
struct CumulativeState {
  std::string key;
  Model model;
  double epochs = 0;
};

void run_cell(const Cell& cell, const MarkedModel& mk, RunContext& ctx, CumulativeState& state,
              std::vector<Row>& out);
// Wall seconds since t0 (a cell's `seconds` column).
double seconds_since(std::chrono::steady_clock::time_point t0);

// The columns every row of a cell shares (config, model, watermark, attack, seed, accuracies).
Row cell_row(const Cell& cell, const MarkedModel& mk, const RunContext& ctx);

// The row of a cell whose marked model could not be made because its training diverged
// (`why`): metric "embedding_failed", no value; not detected (the owner has no marked model),
// no decision for an unmarked suspect (there is nothing to ask it with).
Row embedding_failed_row(const Cell& cell, const RunContext& ctx, const std::string& why);

}  // namespace signet::eval
