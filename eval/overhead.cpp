#include "eval/overhead.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <map>

namespace signet::eval {

namespace {

void fill_extraction(Row& r, MarkedModel& mk, const RunContext& ctx) {
  const double alpha = ctx.cfg.alpha > 0 ? ctx.cfg.alpha : mk.scheme->default_alpha(*mk.keys);
  const Evidence ev = mk.scheme->extract(mk.model, mk.norm, *mk.keys, alpha);
  r.p_value = ev.p_value;
  r.detected = ev.claimed;
}

// Equal epochs (or a mark that fine-tunes the unmarked model): the runtime ratio.
Row runtime_ratio_row(const Cell& c, const BaseModel& base, const MarkedModel& mk, const RunContext& ctx) {
  Row r = cell_row(c, mk, ctx);
  const EmbedPlan p = embed_plan(*c.model, c.wm, c.seed);
  r.metric = "runtime_ratio";
  r.value = p.from_base ? (base.train_seconds + mk.embed_seconds) / base.train_seconds
                        : mk.embed_seconds / base.train_seconds;
  r.threshold = 1;
  r.note = p.from_base ? fmt::format("(train {:.1f}s + embed {:.1f}s) / train {:.1f}s, same run", base.train_seconds,
                                     mk.embed_seconds, base.train_seconds)
                       : fmt::format("marked {:.1f}s ({} epochs) / unmarked {:.1f}s ({} epochs), same run",
                                     mk.embed_seconds, p.epochs, base.train_seconds, c.model->epochs);
  return r;
}

double mean_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? std::nan("") : s / static_cast<double>(v.size());
}
}  // namespace

double time_to_accuracy(const std::vector<AccuracyProbe>& curve, double target) {
  for (const AccuracyProbe& p : curve)
    if (p.accuracy >= target) return p.seconds;
  return std::nan("");
}

double student_t_975(int64_t df) {
  static const double table[30] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                                   2.201,  2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
                                   2.080,  2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042};
  if (df < 1) throw Error(fmt::format("Student's t needs at least 1 degree of freedom, got {}", df));
  if (df <= 30) return table[df - 1];
  // Cornish-Fisher expansion around the normal quantile: within 1e-4 of the exact value past 30.
  const double z = 1.959963984540054, v = static_cast<double>(df);
  return z + (z * z * z + z) / (4 * v) + (5 * std::pow(z, 5) + 16 * z * z * z + 3 * z) / (96 * v * v);
}

void run_overhead_cell(const Cell& c, const BaseModel& base, RunContext& ctx, std::vector<Row>& out) {
  const auto t0 = std::chrono::steady_clock::now();
  const EmbedPlan p = embed_plan(*c.model, c.wm, c.seed);
  const bool race = ctx.cfg.target_share > 0 && !p.from_base;
  MarkedModel mk = ctx.cache.marked(*c.model, c.wm, c.seed, /*fresh=*/true, &base,
                                    race ? ctx.cfg.probes_per_epoch : 0);
  Row r;
  std::vector<Row> parts;  // time to accuracy: the one-off and step-share rows, after the ratio
  if (!race) {
    r = runtime_ratio_row(c, base, mk, ctx);
  } else {
    SIGNET_CHECK(!base.curve.empty() && mk.train_seconds >= 0,
                 "time to accuracy: the unmarked and marked models of {} seed {} were not probed while training",
                 c.model->label, c.seed);
    const double target = ctx.cfg.target_share * base.accuracy;
    const double t_base = time_to_accuracy(base.curve, target);
    // What the embedding spent outside its training loop (keys, class means), the accuracy probes
    // taken out: they are the measurement, not the mark's cost.
    const double one_off = mk.embed_seconds - mk.train_seconds - mk.probe_seconds;
    const double t_mark = one_off + time_to_accuracy(mk.curve, target);
    r = cell_row(c, mk, ctx);
    r.metric = "tta_ratio";
    r.value = t_mark / t_base;
    r.threshold = 1;
    r.baseline_seconds = t_base;
    r.embed_seconds = t_mark;
    r.note = std::isnan(t_mark)
                 ? fmt::format("target {:.2f}% ({:g} x unmarked {:.2f}%): the marked model never reached it "
                               "(best {:.2f}%)", 100 * target, ctx.cfg.target_share, 100 * base.accuracy,
                               100 * mk.accuracy)
                 : fmt::format("target {:.2f}% ({:g} x unmarked {:.2f}%): unmarked {:.1f}s, marked {:.1f}s "
                               "(one-off {:.2f}s)", 100 * target, ctx.cfg.target_share, 100 * base.accuracy, t_base,
                               t_mark, one_off);
    Row once = cell_row(c, mk, ctx);
    once.metric = "one_off_seconds";
    once.value = one_off;
    once.note = fmt::format("embedding time outside the training loop: key generation, initial class means "
                            "(training {:.2f}s and accuracy probes {:.2f}s left out)",
                            mk.train_seconds, mk.probe_seconds);
    Row share = cell_row(c, mk, ctx);
    share.metric = "step_share";
    share.value = (mk.train_seconds - base.train_seconds) / mk.train_seconds;
    share.baseline_seconds = base.train_seconds;
    share.embed_seconds = mk.train_seconds;
    share.note = fmt::format("(marked {:.1f}s - unmarked {:.1f}s) / marked, {} epochs each", mk.train_seconds,
                             base.train_seconds, p.epochs);
    for (Row* x : {&once, &share}) x->attack = "none", x->test_accuracy = mk.accuracy, x->unmarked_accuracy = base.accuracy;
    parts = {once, share};
  }
  r.attack = "none";
  r.extraction = mk.scheme->info().black_box ? "labels" : "plain";
  r.test_accuracy = mk.accuracy;
  r.unmarked_accuracy = base.accuracy;
  if (r.metric == "runtime_ratio") r.baseline_seconds = base.train_seconds;
  fill_extraction(r, mk, ctx);
  r.seconds = seconds_since(t0);
  out.push_back(r);
  out.insert(out.end(), parts.begin(), parts.end());
}

std::string time_to_accuracy_markdown(const std::vector<Row>& rows) {
  struct Group {
    std::vector<double> ratio, t_base, t_mark, one_off, share;
    int reached = 0, total = 0;
  };
  std::map<std::string, Group> groups;
  std::vector<std::string> order;
  for (const Row& r : rows) {
    const std::string k = r.model + " | " + r.watermark;
    if (r.metric != "tta_ratio" && r.metric != "one_off_seconds" && r.metric != "step_share") continue;
    if (!groups.count(k)) order.push_back(k);
    Group& g = groups[k];
    if (r.metric == "one_off_seconds") g.one_off.push_back(r.value);
    if (r.metric == "step_share") g.share.push_back(r.value);
    if (r.metric != "tta_ratio") continue;
    ++g.total;
    if (std::isnan(r.value)) continue;
    ++g.reached;
    g.ratio.push_back(r.value), g.t_base.push_back(r.baseline_seconds), g.t_mark.push_back(r.embed_seconds);
  }
  if (order.empty()) return "";
  std::string md =
      "## Time to accuracy\n\n"
      "Training time for the marked model to first reach the target accuracy, over the unmarked model's "
      "time to the same target (both trained in this run, evaluation time left out; the marked time "
      "includes the one-off costs). The interval is the 95% Student-t interval of the mean ratio over "
      "the seeds (seeds that never reached the target are counted apart).\n\n"
      "| model | watermark | seeds reaching the target | mean ratio | 95% interval | overhead | unmarked s | "
      "marked s | one-off s | step share |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n";
  for (const std::string& k : order) {
    const Group& g = groups[k];
    const double m = mean_of(g.ratio);
    std::string interval = "–";
    if (g.ratio.size() >= 2) {
      double ss = 0;
      for (double x : g.ratio) ss += (x - m) * (x - m);
      const double n = static_cast<double>(g.ratio.size());
      const double half = student_t_975(static_cast<int64_t>(g.ratio.size()) - 1) * std::sqrt(ss / (n - 1) / n);
      interval = fmt::format("{:.3f} – {:.3f}", m - half, m + half);
    }
    auto num = [](double x, const char* f) { return std::isnan(x) ? std::string("–") : fmt::format(fmt::runtime(f), x); };
    md += fmt::format("| {} | {}/{} | {} | {} | {} | {} | {} | {} | {} |\n", k, g.reached, g.total, num(m, "{:.3f}"),
                      interval, num(100 * (m - 1), "{:+.1f}%"), num(mean_of(g.t_base), "{:.1f}"),
                      num(mean_of(g.t_mark), "{:.1f}"), num(mean_of(g.one_off), "{:.2f}"),
                      num(100 * mean_of(g.share), "{:.1f}%"));
  }
  md += "\n";
  return md;
}

}  // namespace signet::eval
