#include "eval/runner.h"

#include <fmt/format.h>
#include <omp.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <set>

#include "engine/serialize/atomic_file.h"
#include "eval/cell.h"
#include "eval/figure.h"
#include "eval/overhead.h"
#include "eval/report.h"
#include "models/trainer.h"

namespace signet::eval {

namespace {
using Clock = std::chrono::steady_clock;

std::string hms(double s) {
  const int64_t t = static_cast<int64_t>(s + 0.5);
  return t >= 3600 ? fmt::format("{}h{:02}m", t / 3600, t / 60 % 60)
                   : (t >= 60 ? fmt::format("{}m{:02}s", t / 60, t % 60) : fmt::format("{}s", t));
}

// The progress bar over the grid: one line redrawn in place on a terminal, one line per finished
// cell otherwise (logs stay readable).
class GridProgress {
 public:
  GridProgress(size_t total, bool enabled) : total_(total), enabled_(enabled), tty_(isatty(STDERR_FILENO)) {}
  void start(size_t done, const std::string& what) {
    if (!enabled_ || !tty_) return;
    draw(done, what);
  }
  void note(const std::string& msg) {
    if (!enabled_) return;
    std::fprintf(stderr, "%ssignet: %s\n", tty_ ? "\r\033[K" : "", msg.c_str());
  }
  void finish(size_t done, const std::string& what, double cell_seconds) {
    if (!enabled_) return;
    if (tty_) {
      draw(done, what);
    } else {
      std::fprintf(stderr, "signet: [%zu/%zu] %s (%.1fs, ETA %s)\n", done, total_, what.c_str(), cell_seconds,
                   eta(done).c_str());
    }
    if (done == total_ && tty_) std::fprintf(stderr, "\n");
  }

 private:
  std::string eta(size_t done) const {
    const double secs = std::chrono::duration<double>(Clock::now() - t0_).count();
    return done ? hms(secs * static_cast<double>(total_ - done) / static_cast<double>(done)) : "?";
  }
  void draw(size_t done, const std::string& what) {
    const int width = 24;
    const int fill = total_ ? static_cast<int>(width * done / total_) : width;
    const double secs = std::chrono::duration<double>(Clock::now() - t0_).count();
    std::fprintf(stderr, "\r\033[K[%s%s] %zu/%zu cells %s ETA %s | %s", std::string(fill, '#').c_str(),
                 std::string(width - fill, '.').c_str(), done, total_, hms(secs).c_str(), eta(done).c_str(),
                 what.c_str());
    std::fflush(stderr);
  }
  size_t total_;
  bool enabled_, tty_;
  Clock::time_point t0_ = Clock::now();
};

std::string marked_key(const Cell& c) { return fmt::format("{}|{}|{}", c.model->label, c.wm.label, c.seed); }
}  // namespace

std::string dry_run_listing(const Config& c, const RunOptions& o) {
  static const RecipeData none;
  ModelCache cache(o.cache_dir, config_data(c), none);
  const std::vector<Cell> cells = expand_grid(c);
  std::string out = fmt::format("{}: {} cells (kind {}), cache {}\n", c.name, cells.size(), c.kind, cache.dir());
  std::set<std::string> listed;
  auto need_base = [&](const ModelSpec& m, uint64_t seed) {
    const std::string p = cache.base_path(m, seed);
    if (!listed.insert(p).second) return;
    out += fmt::format("  needs unmarked {} ({})\n", p, cache.has_base(m, seed) ? "cached" : "to train");
  };
  for (size_t i = 0; i < cells.size(); ++i) {
    const Cell& cell = cells[i];
    const EmbedPlan p = embed_plan(*cell.model, cell.wm, cell.seed);
    if (c.kind == "overhead") {
      out += fmt::format("  unmarked {} and the mark trained now (timed)\n",
                         base_name(*cell.model, p.base_seed));
    } else {
      need_base(*cell.model, p.base_seed);
      const std::string mp = cache.marked_path(*cell.model, cell.wm, cell.seed);
      if (listed.insert(mp).second)
        out += fmt::format("  needs marked {} ({})\n", mp,
                           cache.has_marked(*cell.model, cell.wm, cell.seed) ? "cached" : "to embed");
      if (cell.suspect) need_base(*cell.suspect, cell.suspect_seed);
    }
    out += fmt::format("[{}/{}] {}\n", i + 1, cells.size(), describe_cell(cell));
  }
  return out;
}

RunSummary run_config(const Config& c, const RunOptions& o) {
  const auto t0 = Clock::now();
  const std::string started = utc_now();
  const std::vector<Cell> cells = expand_grid(c);
  SIGNET_CHECK(!cells.empty(), "{}: the grid is empty (check the models / schemes filters of [[attacks]])", c.path);
  const TrainRecipe recipe = config_data(c);
  const RecipeData data = o.data ? *o.data : load_recipe_data(recipe);
  ModelCache cache(o.cache_dir, recipe, data);
  RunContext ctx{c, cache, data};
  const std::string dir = o.runs_dir + "/" + c.name;
  GridProgress bar(cells.size(), o.progress);
  std::vector<Row> rows;
  std::string current, failed;  // failed: why the current marked model could not be made
  MarkedModel mk;
  CumulativeState state;
  std::map<std::string, BaseModel> fresh_bases;  // overhead: trained in this run
  for (size_t i = 0; i < cells.size(); ++i) {
    const Cell& cell = cells[i];
    const std::string what = describe_cell(cell);
    const auto tc = Clock::now();
    bar.start(i, what);
    if (c.kind == "overhead") {
      const std::string key = base_name(*cell.model, cell.seed);
      if (!fresh_bases.count(key)) {
        bar.note("training " + key + " now (the overhead baseline, timed)");
        fresh_bases.emplace(key, cache.train_base(*cell.model, cell.seed, c.target_share > 0 ? c.probes_per_epoch : 0));
      }
      run_overhead_cell(cell, fresh_bases.at(key), ctx, rows);
    } else {
      if (marked_key(cell) != current) {
        const EmbedPlan p = embed_plan(*cell.model, cell.wm, cell.seed);
        if (!cache.has_base(*cell.model, p.base_seed))
          bar.note("training " + base_name(*cell.model, p.base_seed) + " (not cached)");
        if (!cache.has_marked(*cell.model, cell.wm, cell.seed))
          bar.note("embedding " + marked_name(*cell.model, cell.wm, cell.seed) + " (not cached)");
        failed.clear();
        try {
          mk = cache.marked(*cell.model, cell.wm, cell.seed);
        } catch (const TrainingDiverged& e) {  // a result of the recipe: its cells report it
          failed = e.what();
          bar.note("embedding failed: " + failed);
        }
        current = marked_key(cell);
      }
      if (!failed.empty()) {
        rows.push_back(embedding_failed_row(cell, ctx, failed));
      } else {
        if (cell.suspect && !cache.has_base(*cell.suspect, cell.suspect_seed))
          bar.note("training " + base_name(*cell.suspect, cell.suspect_seed) + " (not cached)");
        run_cell(cell, mk, ctx, state, rows);
      }
    }
    write_results(dir, rows);
    bar.finish(i + 1, what, std::chrono::duration<double>(Clock::now() - tc).count());
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  write_file_atomic(dir + "/run.json", nlohmann::json{{"config", c.path}, {"name", c.name}, {"command", o.command},
                                                      {"seconds", seconds}, {"cells", cells.size()},
                                                      {"threads", omp_get_max_threads()}, {"date", started},
                                                      {"build", o.build}, {"machine", machine_description()}}
                                              .dump() + "\n");
  RunSummary s;
  if (o.report) {
    RunOptions ro = o;
    if (ro.date.empty()) ro.date = started;
    s = write_report(c, ro, rows, seconds);
  } else {
    s.rows = rows;
    s.seconds = seconds;
    s.checks = evaluate_checks(c, rows);
  }
  s.results_csv = dir + "/results.csv";
  s.results_json = dir + "/results.json";
  return s;
}

RunSummary write_report(const Config& c, const RunOptions& o, const std::vector<Row>& rows, double seconds) {
  RunSummary s;
  s.rows = rows;
  s.seconds = seconds;
  s.checks = evaluate_checks(c, rows);
  const std::string base = o.reports_dir + "/" + c.name;
  s.figures = draw_figure(c, rows, base, o.runs_dir + "/" + c.name);
  s.report_md = base + ".md";
  write_report_files(c, o, rows, s.checks, seconds, !s.figures.empty(), base);
  return s;
}

}  // namespace signet::eval
