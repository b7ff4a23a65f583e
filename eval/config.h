// Experiment configs for `signet evaluate --config FILE.toml` (experiments/*.toml).
//
// A config is a grid: model x watermark x attack x strength x seed. Each cell takes the marked
// model of (model, watermark, seed) from the cache (eval/cache.h; made with the project's
// default recipes when missing), applies the attack at the strength, measures test accuracy and
// extracts the owner's watermark; one tidy row per cell and extraction (eval/results.h).
//
// Format (TOML; every key below, and no other, is allowed; defaults in brackets):
//
//   name = "fig6_pruning_seeds"    # required, [a-z0-9_-]: results in runs/<name>/, report reports/<name>.*
//   title = "..."            # required: the report's heading
//   description = "..."      # [""] markdown paragraph for the report
//   kind = "grid"            # ["grid"] | "overhead" (paper Figure 9: embedding time / training time)
//   dataset = "fashion-mnist"  data_dir = ""   seeds = [1]
//   pad_to = 0  channels = 0  train_limit = 0  test_limit = 0   # the data every cell uses, as
//                            # `signet train` flags: zero-pad images to SxS (32: Fashion-MNIST for
//                            # wrn-*), replicate grey into 3 channels, seeded subsets (0 = all).
//                            # The subsets are drawn once, with seed 1, for every model and seed.
//   alpha = 0                # claim when p <= alpha [0: each scheme's default, `signet schemes`]
//   target_share = 0         # overhead kind: 0 = equal epochs; in (0, 1]: time to accuracy, the
//                            # target being this share of the unmarked model's final accuracy
//   probes_per_epoch = 4     # overhead with target_share: test-accuracy probes per epoch
//
//   [[models]]               # one or more
//   name = "mnist-mlp"       # registry name
//   label = "mnist-mlp-adam" # [name] how filters, suspects and the results' model column name it:
//                            # two entries of one architecture (e.g. two recipes) need labels
//   epochs = 5               # unmarked training epochs (`signet train` recipe, cached by name)
//   optimizer = "sgd"  lr = 0.05   # the recipe's optimizer and rate (`signet train --optimizer
//                            # --lr`; e.g. imdb-lstm: "adam", 0.001); marks from scratch train
//                            # the same way, fine-tuning marks at a tenth of lr
//   seeds = [1, 2]           # [the top-level seeds]
//
//   [[schemes]]              # one or more watermarks
//   scheme = "deepsigns-hidden"   # any registered scheme (`signet schemes`)
//   label = "..."            # [auto: "<short label> <symbol>=<n>", e.g. "hidden N=32" / "output K=20"]
//   models = [...]           # [all] only these models
//   from = "scratch"|"base"  # ["scratch" when the scheme can train with the mark, else "base" only]
//   epochs = 5               # [scratch: the model's epochs; base: the scheme's fine-tuning epochs]
//   lr = 0.05                # [scratch 0.05, base 0.005]
//   base_seed = 1            # [0: the cell's seed] unmarked model seed (keys still use the cell's seed)
//   <option> = ...           # each of the scheme's options (`signet schemes`), e.g. deepsigns-hidden:
//                            # layer, bits, wm_classes, key_fraction, lambda1, lambda2, signature;
//                            # deepsigns-output: keys, key_search, candidates, finetune_subset, ...
//                            # The size option (bits, keys) takes an int or a list: one watermark each.
// Keys come from the key seed = the cell's seed, in a domain of (scheme, model, layer, options),
// so no two key sets of a grid coincide and the grid is reproducible (watermark/verify/key_rng.h).
//
//   [[attacks]]              # grid kind: one or more
//   attack = "none" | "finetune" | "prune" | "quantize" | "permute" | "overwrite" | "distill" |
//            "unmarked" | "input-noise" | "score-rounding" | "score-perturbation"
//   strengths = [...]        # finetune: epochs; prune: fraction; quantize: bits; overwrite: the
//                            # attacker's epochs; input-noise / score-perturbation: sigma;
//                            # score-rounding: decimals; none / permute / unmarked: unused ([0])
//   models = [...]  schemes = [...]     # [all] restrict (schemes by scheme name or label)
//   extraction = ["plain", "aligned"]   # ["plain"] hidden marks: plain and/or unit-aligned (the
//                            # aligned BER is reported without p-value or decision)
//   lr = 0.005  optimizer = "sgd"  samples = 0  cumulative = true   # finetune/prune/overwrite
//                            # training (optimizer also distill; constant rate); samples: a
//                            # seeded subset of the training set (0 = all); finetune: strengths
//                            # continue one model (epochs are totals)
//   finetune_epochs = 1      # prune: sparse fine-tuning epochs after pruning (0 = none)
//   layers = [...]           # permute: taps ([] = the mark's layer, ["all"] = every hidden layer)
//   attacker_bits / attacker_keys = 0    # overwrite: the attacker's size option [0 = the owner's];
//                            # attacker seed = seed + 1000 (its keys and data order)
//   same_seeds = [4, 5]  other_seeds = [4, 5]  other_models = [...]   # unmarked: suspects; a
//                            # suspect of an owner's architecture may not have an owner's seed
//                            # (it would start from the owner's initial weights): an error
//   answers = "labels"|"scores"  student = ""  lr = 0.05  samples = 0   # distill: strengths are
//                            # the student's epochs; samples the query budget (the training split's
//                            # inputs, seeded subset; 0 = all); student the thief's architecture
//                            # ("" = the marked model's), initialised from seed + 2000
//
//   [figure]     x = "strength"  y = "value"  y2 = "test_accuracy"  series = ["extraction"]
//                rows = "scheme"  cols = "model"  where = { metric = "ber" }  threshold = true
//                style = "linespoints"|"points"|"boxes"  categorical_x = false  logx = false
//                title / xlabel / ylabel / y2label = "..."  yrange = [0, 1]
//   [paper]      source = "..."  notes = "..." (markdown)
//   [[paper.rows]] setting = "..." match = { model = "mnist-mlp", attack = "finetune", strength = 5 }
//                accuracy = "98.21%"  metric = "BER 0"  detected = "1"  note = "..."
//                summary = "cells" (means, detected k/n) | "max_detected_strength" |
//                "detected_count" (k of n) | "max_bits_ber0" (largest N with BER 0)
//   [[checks]]   claim = "..."  where = {...}  expect = "all_detected" | "none_detected" |
//                "no_attack_success" | "max_value" (with value = X)
//   [restore]    notes = "..." (what to change for the paper's full numbers; in the report)
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "watermark/scheme.h"

namespace signet::eval {

struct ModelSpec {
  std::string name;   // the registry's architecture
  int64_t epochs = 5;
  std::string optimizer = "sgd";
  double lr = -1;  // -1: the recipe's (0.05)
  std::vector<uint64_t> seeds;
  std::string label;  // how the config, the grid and the results name it (parse_config: [name])
};

struct SchemeSpec {
  std::string scheme, label, from;
  const Scheme* impl = nullptr;  // the registered scheme
  std::vector<std::string> models;
  int64_t epochs = -1;  // -1: the recipe's
  double lr = -1;       // -1: the recipe's
  uint64_t base_seed = 0;
  SchemeParams params;         // the scheme's options (defaults filled in)
  std::vector<int64_t> sizes;  // values of the scheme's size option: one watermark each
};

struct AttackSpec {
  std::string attack;
  std::vector<double> strengths;
  std::vector<std::string> models, schemes, extraction{"plain"}, layers, other_models;
  double lr = 0.005;
  std::string optimizer = "sgd";  // the attacker's (training attacks)
  int64_t samples = 0, finetune_epochs = 1;
  int64_t attacker_size = 0;  // overwrite: the attacker's size option (bits, keys); 0: the owner's
  std::string answers = "labels", student;  // distill: what the service answers; the thief's model
  bool cumulative = true;
  std::vector<uint64_t> same_seeds, other_seeds;
};

// Row filters ("where" / "match"): column name -> value (numbers compared as numbers).
using Match = std::map<std::string, std::string>;

struct FigureSpec {
  bool enabled = false;
  std::string x = "strength", y = "value", y2, rows, cols, style = "linespoints";
  std::vector<std::string> series;
  Match where;
  bool threshold = true, categorical_x = false, logx = false;
  std::string title, xlabel, ylabel, y2label;
  std::vector<double> yrange;  // empty or [lo, hi]
};

struct PaperRow {
  std::string setting, accuracy, metric, detected, note, summary = "cells";
  Match match;
};

struct CheckSpec {
  std::string claim, expect;
  Match where;
  double value = 0;
};

struct Config {
  std::string path, name, title, description, kind = "grid", dataset = "fashion-mnist", data_dir;
  int64_t pad_to = 0, channels = 0, train_limit = 0, test_limit = 0;  // `signet train`'s data flags
  std::vector<uint64_t> seeds{1};
  double alpha = 0;  // 0: each scheme's default (Scheme::default_alpha)
  double target_share = 0;       // overhead: 0 equal epochs, else time to this share of the unmarked accuracy
  int64_t probes_per_epoch = 4;  // overhead with target_share
  std::vector<ModelSpec> models;
  std::vector<SchemeSpec> schemes;
  std::vector<AttackSpec> attacks;
  FigureSpec figure;
  std::string paper_source, paper_notes, restore_notes;
  std::vector<PaperRow> paper_rows;
  std::vector<CheckSpec> checks;
};

// Reads and checks a config. Errors (signet::Error) name the file, the line, the key and what is
// allowed: TOML syntax, unknown keys, wrong types, bad values, unknown models.
Config load_config(const std::string& path);
// The same from TOML text (`path` only names it in errors).
Config parse_config(const std::string& text, const std::string& path);

// Attacks that change nothing the verifier sees of a hidden mark's layer, or only query it.
bool attack_trains(const std::string& attack);      // finetune, prune (with fine-tuning), overwrite
bool oracle_attack(const std::string& attack);      // input-noise, score-rounding, score-perturbation
const std::vector<std::string>& attack_names();

}  // namespace signet::eval
