// signet evaluate: test accuracy and loss of a saved model on a data set split; or, with
// --config FILE.toml, an experiment grid (scheme x attack x strength x seed; eval/config.h)
// with its results (runs/<name>/results.{csv,json}) and report (reports/<name>.{md,csv,png,svg}).
//
// Images smaller than the model's input (e.g. Fashion-MNIST 28x28 for a model trained with
// --pad-to 32, or grey images for a model trained with --channels 3) are padded / replicated
// to the model's C,H,W the same way `signet train` did; other mismatches are an Error. A model
// file without Signet metadata (a PyTorch state dict) takes the data set's input shape (or
// --input-shape) and no normalisation unless --input-mean / --input-std give one.
#include <filesystem>
#include <memory>

#include "cli/commands.h"
#include "cli/build_info.h"
#include "cli/common.h"
#include "cli/finite_weights.h"
#include "engine/thread_governor.h"
#include "datasets/augment.h"
#include "engine/serialize/atomic_file.h"
#include "engine/serialize/file_read.h"
#include "engine/serialize/untrusted_json.h"
#include "eval/grid.h"
#include "eval/runner.h"
#include "models/trainer.h"

namespace signet::cli {

namespace {
Dataset fit_to_model(const Dataset& ds, const Model& model) {
  const Shape& want = model.config.input_shape;
  if (ds.is_tokens() || want.size() != 3) return ds;
  const Shape have(ds.images.shape().begin() + 1, ds.images.shape().end());
  if (have == want) return ds;
  const bool can = have[1] <= want[1] && have[2] <= want[2] && (have[0] == want[0] || (have[0] == 1 && want[0] == 3));
  SIGNET_CHECK(can, "{} takes {} images, the data set '{}' has {} (train and evaluate on the same data set)",
               model.name, shape_str(want), ds.name, shape_str(have));
  // The weights of a convolutional net do not fix H and W: its metadata may state any size up to the per-sample
  // limit, and the whole split is padded at once.
  checked_mul(ds.size(), shape_numel(want), fmt::format("padding the {} images of '{}' to the model's input {}",
                                                         ds.size(), ds.name, shape_str(want)));
  std::fprintf(stderr, "signet: padding %s images to the model's input %s\n", shape_str(have).c_str(),
               shape_str(want).c_str());
  return pad_images(ds, want[1], want[2], want[0] == have[0] ? 0 : want[0]);
}
}  // namespace

void add_config_run_options(CLI::App* c, ConfigRunArgs& a) {
  c->add_option("--cache", a.cache, "model cache shared by the configs")->capture_default_str();
  c->add_option("--runs", a.runs, "results go to RUNS/<name>/results.{csv,json}")->capture_default_str();
  c->add_option("--reports", a.reports, "the report goes to REPORTS/<name>.{md,csv,png,svg}")->capture_default_str();
  c->add_flag("--dry-run", a.dry_run, "list the cells and what each needs from the cache; run nothing");
  c->add_flag("--no-report", a.no_report, "results only, no report or figure");
  c->add_flag("--report-only", a.report_only, "remake the report and figure from RUNS/<name>/results.json");
  c->add_option("--threads", a.threads, "threads (0: all cores; an experiment grid keeps the count fixed)");
  c->add_flag("--json", a.json, "print one JSON object on stdout (summary, checks and rows)");
  c->add_flag("--quiet", a.quiet, "no progress bar");
}

void run_config_command(const ConfigRunArgs& a) {
  SIGNET_CHECK(a.threads >= 0, "--threads must be >= 0, got {}", a.threads);
  // A grid's results must repeat bit for bit, and some reductions depend on the thread count.
  threads::configure_fixed(a.threads);
  const eval::Config cfg = eval::load_config(a.config);
  eval::RunOptions o;
  o.cache_dir = a.cache;
  o.runs_dir = a.runs;
  o.reports_dir = a.reports;
  o.progress = !a.quiet;
  o.report = !a.no_report;
  o.command = a.command.empty() ? "signet evaluate --config " + a.config : a.command;
  {
    const nlohmann::json v = version_json();
    o.build = fmt::format("signet {} (commit {}{})", v.value("version", "?"), v.value("commit", "unknown"),
                          v.value("dirty", false) ? ", uncommitted changes" : "");
  }
  if (a.cache != "runs/cache") o.command += " --cache " + a.cache;
  if (a.dry_run) {
    const std::string listing = eval::dry_run_listing(cfg, o);
    if (a.json) {
      nlohmann::json cells = nlohmann::json::array();
      for (const eval::Cell& c : eval::expand_grid(cfg)) cells.push_back(eval::describe_cell(c));
      print_json({{"command", "evaluate"}, {"config", a.config}, {"name", cfg.name}, {"dry_run", true},
                  {"cells", cells}, {"listing", listing}});
    } else {
      std::printf("%s", listing.c_str());
    }
    return;
  }
  eval::RunSummary s;
  if (a.report_only) {
    const std::string path = a.runs + "/" + cfg.name + "/results.json";
    SIGNET_CHECK(std::filesystem::exists(path), "--report-only: {} does not exist (run the config first)", path);
    // The run's duration (and command) from RUNS/<name>/run.json when the run wrote one.
    double seconds = 0;
    const std::string meta = a.runs + "/" + cfg.name + "/run.json";
    if (std::filesystem::exists(meta)) {
      const std::string text = read_file(meta, file_kind::kReportData);
      // A run.json nested absurdly deep is as unreadable as an invalid one: the report says "not recorded".
      const nlohmann::json m = json_nesting_depth(text) <= kMaxJsonDepth ? nlohmann::json::parse(text, nullptr, false)
                                                                           : nlohmann::json();
      if (m.is_object()) {
        seconds = m.value("seconds", 0.0);
        if (a.command.empty()) o.command = m.value("command", o.command);
        // The report names the run's date, build and machine, not this remake's.
        o.date = m.value("date", std::string("not recorded"));
        o.build = m.value("build", std::string("not recorded"));
        o.machine = m.value("machine", std::string("not recorded"));
        o.threads = m.value("threads", 0);
      }
    }
    s = eval::write_report(cfg, o, eval::read_results(path), seconds);
    s.results_json = path;
    s.results_csv = a.runs + "/" + cfg.name + "/results.csv";
  } else {
    s = eval::run_config(cfg, o);
  }
  if (a.json) {
    nlohmann::json checks = nlohmann::json::array();
    for (const auto& k : s.checks) checks.push_back({{"claim", k.claim}, {"passed", k.passed}, {"detail", k.detail}});
    print_json({{"command", "evaluate"}, {"config", a.config}, {"name", cfg.name}, {"rows", eval::rows_to_json(s.rows)},
                {"seconds", s.seconds}, {"results_csv", s.results_csv}, {"results_json", s.results_json},
                {"report", s.report_md}, {"figures", s.figures}, {"checks", checks}});
    return;
  }
  std::printf("%s: %zu rows in %.1f minutes; results %s", cfg.name.c_str(), s.rows.size(), s.seconds / 60,
              s.results_csv.c_str());
  if (!s.report_md.empty()) std::printf(", report %s", s.report_md.c_str());
  std::printf("\n");
  for (const auto& k : s.checks)
    std::printf("  [%s] %s: %s\n", k.passed ? "pass" : "FAIL", k.claim.c_str(), k.detail.c_str());
}

void register_evaluate(CLI::App& app) {
  struct Args { std::string model, weights, dataset = "fashion-mnist", data_dir, split = "test"; ModelFileFlags file; int threads = 0; bool json = false; };
  auto a = std::make_shared<Args>();
  auto cr = std::make_shared<ConfigRunArgs>();
  auto* c = app.add_subcommand("evaluate", "Accuracy of a saved model on a data set, or an experiment grid (--config)");
  c->add_option("--config", cr->config, "experiment config (TOML, e.g. experiments/fig6_pruning_seeds.toml): run its grid");
  c->add_option("--model", a->model, "model name (checked against the file)");
  c->add_option("--weights", a->weights, "model file (.safetensors)");
  c->add_option("--dataset", a->dataset, "data set")->capture_default_str();
  c->add_option("--data-dir", a->data_dir, "directory of the data set files");
  c->add_option("--split", a->split, "train | test")->capture_default_str();
  add_model_file_flags(c, a->file);
  add_config_run_options(c, *cr);
  c->callback([a, cr] {
    if (!cr->config.empty()) {
      SIGNET_CHECK(a->weights.empty(), "--config runs an experiment grid; do not give --weights with it");
      return run_config_command(*cr);
    }
    SIGNET_CHECK(!a->weights.empty(), "--weights is required (or --config FILE.toml for an experiment grid)");
    a->threads = cr->threads;
    a->json = cr->json;
    set_threads(a->threads);
    Normalization norm;
    const Dataset raw = load_split(a->dataset, a->split, a->data_dir);
    bool plain = false;
    Model model = load_model(
        a->weights, model_hints(a->model, a->file, example_shape(raw), "the data set '" + a->dataset + "'"), &norm,
        &plain);
    warn_if_nonfinite(model, a->weights);
    const Dataset set = fit_to_model(raw, model);
    if (norm.mean.empty() && !set.is_tokens() && !plain)
      norm = normalization_of(fit_to_model(load_split(a->dataset, "train", a->data_dir), model));
    const EvalResult r = evaluate_model(model, set, norm);
    if (a->json) {
      print_json({{"command", "evaluate"}, {"model", model.name}, {"weights", a->weights}, {"dataset", a->dataset},
                  {"split", a->split}, {"accuracy", r.accuracy}, {"loss", r.loss}, {"correct", r.correct},
                  {"total", r.total}});
    } else {
      std::printf("%s on %s/%s: accuracy %.2f%% (%lld/%lld), loss %.4f\n", a->weights.c_str(), a->dataset.c_str(),
                  a->split.c_str(), 100 * r.accuracy, static_cast<long long>(r.correct),
                  static_cast<long long>(r.total), r.loss);
    }
  });
}

}  // namespace signet::cli
