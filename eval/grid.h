// Expansion of a config into the cells of its grid, in run order: model, watermark, seed, attack,
// strength (ascending), suspect. Marked models are thus reused by consecutive cells, and a
// cumulative fine-tuning attack continues from the previous strength's model.
//
//  - A watermark ("variant") is one [[schemes]] entry with one bits / keys value.
//  - Seeds: the model's `seeds`, else the config's.
//  - An attack applies to the models and schemes it names (all when none are named); the oracle
//    attacks (input-noise, score-rounding, score-perturbation) only to schemes with black-box
//    verification.
//  - attack "unmarked": one cell per suspect: the same model with each of same_seeds, and each
//    other model (other_models, default every other [[models]] entry) with each of other_seeds.
//  - kind "overhead": one cell per model, watermark and seed (no attack).
#pragma once
#include <string>
#include <vector>

#include "eval/config.h"

namespace signet::eval {

struct Variant {
  const SchemeSpec* spec = nullptr;
  int64_t n = 0;        // the scheme's size option (bits, keys)
  std::string label;    // "hidden N=32", "output K=20", or the config's label
  SchemeParams params;  // the scheme's options with the size set to n
};

struct Cell {
  const ModelSpec* model = nullptr;
  Variant wm;
  uint64_t seed = 0;
  const AttackSpec* attack = nullptr;  // nullptr: overhead cell
  double strength = 0;
  const ModelSpec* suspect = nullptr;  // attack "unmarked": the unmarked model queried
  uint64_t suspect_seed = 0;
};

std::vector<Variant> variants_of(const SchemeSpec& s);
// The variant's options for one model: those the config left out take the scheme's default for
// that model (Scheme::model_defaults). Everything that names or embeds a mark uses these.
SchemeParams model_params(const Variant& v, const std::string& model);
std::vector<Cell> expand_grid(const Config& c);
// One line for --dry-run and the progress bar: "mnist-mlp | hidden N=32 | seed 1 | prune 0.5".
std::string describe_cell(const Cell& cell);
// The attack column of a cell ("overhead" cells: "none"; distill: "distill-labels" /
// "distill-scores").
std::string attack_name(const Cell& cell);
// The mark's layer (the scheme's: its option, else the model's second-to-last tap).
std::string mark_layer(const Variant& v, const std::string& model);

}  // namespace signet::eval
