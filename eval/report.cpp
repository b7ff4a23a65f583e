#include "eval/report.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <omp.h>

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>

#include "engine/serialize/atomic_file.h"
#include "eval/cache.h"
#include "eval/embed_recipes.h"
#include "eval/grid.h"
#include "eval/null_table.h"
#include "eval/overhead.h"

namespace signet::eval {

namespace {
std::string pct(double x) { return std::isnan(x) ? "–" : fmt::format("{:.2f}%", 100 * x); }
double mean(const std::vector<double>& v) {
  double s = 0;
  int n = 0;
  for (double x : v)
    if (!std::isnan(x)) s += x, ++n;
  return n ? s / n : kNaN;
}
std::string fmt_value(const std::string& metric, double v) {
  if (std::isnan(v)) return "–";
  if (metric == "ber") return fmt::format("{:.4f}", v);
  if (metric == "runtime_ratio" || metric == "one_off_seconds") return fmt::format("{:.2f}", v);
  if (metric == "tta_ratio" || metric == "step_share") return fmt::format("{:.3f}", v);
  return v == std::floor(v) ? fmt::format("{:.0f}", v) : fmt::format("{:.1f}", v);
}
std::string metric_text(const std::string& metric, double v, double thr) {
  if (metric == "ber") return fmt::format("BER {}{}", fmt_value(metric, v), std::isnan(thr) ? "" : fmt::format(" (claim if <= {:.4f})", thr));
  if (metric == "mismatches") return fmt::format("{} mismatches (theta {})", fmt_value(metric, v), fmt_value(metric, thr));
  return fmt::format("{} {}", metric, fmt_value(metric, v));
}
// Rows a check or paper row looks at: every row with a watermark metric, the attacker's own mark
// only when asked for by extraction.
bool counts_for_checks(const Row& r, const Match& where) {
  return !r.metric.empty() && (r.extraction != "attacker" || where.count("extraction"));
}
std::string match_text(const Match& m) {
  std::vector<std::string> parts;
  for (const auto& [k, v] : m) parts.push_back(k + " " + v);
  return parts.empty() ? "all rows" : fmt::format("{}", fmt::join(parts, ", "));
}

struct Group {
  std::vector<const Row*> rows;
};

// Rows by their metric (ber, mismatches, ...), so that summaries never pool different units.
std::map<std::string, std::vector<const Row*>> by_metric(const std::vector<const Row*>& rows) {
  std::map<std::string, std::vector<const Row*>> out;
  for (const Row* r : rows) out[r->metric].push_back(r);
  return out;
}

std::string paper_ours(const PaperRow& p, const std::vector<Row>& rows, std::string* acc, std::string* metric,
                       std::string* det) {
  std::vector<const Row*> m;
  for (const Row& r : rows)
    if (row_matches(r, p.match) && counts_for_checks(r, p.match)) m.push_back(&r);
  if (m.empty()) {
    *acc = *metric = *det = "–";
    return match_text(p.match) + " (no rows)";
  }
  std::vector<double> a;
  int d = 0, nd = 0;
  for (const Row* r : m) {
    a.push_back(r->test_accuracy);
    d += r->detected == 1, nd += r->detected >= 0;
  }
  if (p.summary == "max_detected_strength") {
    std::map<double, std::vector<const Row*>> by;
    for (const Row* r : m)
      if (r->detected >= 0) by[r->strength].push_back(r);
    std::string last_ok = "none", first_miss;
    for (const auto& [s, rs] : by) {
      std::vector<double> acc_s;
      bool all = true;
      for (const Row* r : rs) acc_s.push_back(r->test_accuracy), all = all && r->detected == 1;
      if (all && first_miss.empty()) last_ok = fmt::format("{:g} (accuracy {})", s, pct(mean(acc_s)));
      else if (!all && first_miss.empty()) first_miss = fmt::format("{:g} (accuracy {})", s, pct(mean(acc_s)));
    }
    *acc = "see setting";
    *metric = "detected at every strength up to " + last_ok;
    *det = first_miss.empty() ? "at every strength" : "first missed at " + first_miss;
  } else if (p.summary == "max_bits_ber0") {
    std::map<int64_t, std::vector<const Row*>> by;
    for (const Row* r : m) by[r->bits].push_back(r);
    std::string best = "none", first_bad;
    for (const auto& [n, rs] : by) {
      std::vector<double> ber, acc_n;
      int64_t diverged = 0;
      for (const Row* r : rs) {
        if (r->metric == "embedding_failed") ++diverged;
        else ber.push_back(r->value), acc_n.push_back(r->test_accuracy);
      }
      if (!first_bad.empty()) continue;
      if (diverged > 0)
        first_bad = fmt::format("N = {} (no marked model in {} of {} seeds: training diverged)", n, diverged, rs.size());
      else if (mean(ber) == 0)
        best = fmt::format("N = {} (accuracy {})", n, pct(mean(acc_n)));
      else
        first_bad = fmt::format("N = {} (BER {:.4f})", n, mean(ber));
    }
    *acc = "see setting";
    *metric = "BER 0 up to " + best;
    *det = first_bad.empty() ? "BER 0 at every N" : "first N short of BER 0: " + first_bad;
  } else if (p.summary == "detected_count") {
    // One range per metric: a BER and a mismatch count never share a range or a threshold.
    std::vector<std::string> parts;
    for (const auto& [name, rs] : by_metric(m)) {
      // Rows without a threshold (a key too short to ever reach alpha) have no decision: they
      // widen the value range but not the threshold's.
      std::vector<double> vs, ts;
      for (const Row* r : rs) {
        vs.push_back(r->value);
        if (!std::isnan(r->threshold)) ts.push_back(r->threshold);
      }
      const auto [lo, hi] = std::minmax_element(vs.begin(), vs.end());
      std::string thr = "none";
      if (!ts.empty()) {
        const auto [tlo, thi] = std::minmax_element(ts.begin(), ts.end());
        thr = *tlo == *thi ? fmt_value(name, *tlo) : fmt_value(name, *tlo) + "–" + fmt_value(name, *thi);
      }
      const size_t undecided = rs.size() - ts.size();
      parts.push_back(fmt::format("{} {}–{} (threshold {}; {} rows{})", name, fmt_value(name, *lo), fmt_value(name, *hi),
                                  thr, rs.size(), undecided ? fmt::format(", {} without a decision", undecided) : ""));
    }
    *acc = pct(mean(a));
    *metric = fmt::format("{}", fmt::join(parts, "; "));
    *det = nd ? fmt::format("{} of {} detected", d, nd) : "no decision";
  } else {
    std::vector<std::string> parts;
    for (const auto& [name, rs] : by_metric(m)) {
      std::vector<double> vs, ts;
      for (const Row* r : rs) vs.push_back(r->value), ts.push_back(r->threshold);
      parts.push_back(metric_text(name, mean(vs), mean(ts)));
    }
    *acc = pct(mean(a));
    *metric = fmt::format("{}", fmt::join(parts, "; "));
    *det = nd ? fmt::format("{}/{}", d, nd) : "no decision";
  }
  return match_text(p.match);
}
}  // namespace

std::vector<CheckResult> evaluate_checks(const Config& c, const std::vector<Row>& rows) {
  std::vector<CheckResult> out;
  for (const CheckSpec& k : c.checks) {
    int n = 0, ok = 0;
    for (const Row& r : rows) {
      if (!row_matches(r, k.where) || !counts_for_checks(r, k.where)) continue;
      if (k.expect != "max_value" && r.detected < 0) continue;  // aligned BER: no decision to check
      ++n;
      if (k.expect == "all_detected") ok += r.detected == 1;
      else if (k.expect == "none_detected") ok += r.detected == 0;
      else if (k.expect == "no_attack_success") ok += r.attack_success != 1;
      else ok += !std::isnan(r.value) && r.value <= k.value + 1e-12;
    }
    CheckResult cr{k.claim, n > 0 && ok == n, ""};
    cr.detail = n == 0 ? "no matching rows" : fmt::format("{} of {} rows ({}: {})", ok, n, k.expect, match_text(k.where));
    out.push_back(cr);
  }
  return out;
}

std::string machine_description() {
  std::string cpu = "unknown CPU";
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0 && line.find(':') != std::string::npos) {
      cpu = line.substr(line.find(':') + 1);
      cpu.erase(0, cpu.find_first_not_of(" \t"));
      break;
    }
  utsname u{};
  const std::string kernel = uname(&u) == 0 ? fmt::format(", {} {}", u.sysname, u.release) : "";
  return fmt::format("{}, {} cores{}", cpu, sysconf(_SC_NPROCESSORS_ONLN), kernel);
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
  return buf;
}

std::string report_markdown(const Config& c, const RunOptions& o, const std::vector<Row>& rows,
                            const std::vector<CheckResult>& checks, double seconds, bool figure) {
  std::string md = "# " + c.title + "\n\n";
  if (!c.description.empty()) md += c.description + "\n\n";
  const int threads = o.threads > 0 ? o.threads : omp_get_max_threads();
  md += fmt::format("Made by `{}` in {:.1f} minutes ({} thread{}); config `{}`, every row in [{}.csv]({}.csv) "
                    "(columns: `eval/results.h`). Generated: edit the config, not this file.\n\n",
                    o.command.empty() ? "signet evaluate --config " + c.path : o.command, seconds / 60, threads,
                    threads == 1 ? "" : "s", c.path, c.name, c.name);
  md += fmt::format("Run: {}; build: {}; machine: {}.\n\n", o.date.empty() ? utc_now() : o.date,
                    o.build.empty() ? "not recorded" : o.build,
                    o.machine.empty() ? machine_description() : o.machine);
  // ------------------------------------------------------------------ settings
  md += "## Settings\n\n";
  md += fmt::format("- Data set `{}`; seeds {}. Unmarked models: the `signet train` recipe (SGD momentum 0.9, "
                    "weight decay 5e-4, lr 0.05 cosine, batch 128).\n",
                    c.dataset, fmt::join(c.seeds, ", "));
  for (const ModelSpec& m : c.models)
    md += fmt::format("- `{}`{}: {} epoch{}{}{}.\n", m.label, m.label == m.name ? "" : " (" + m.name + ")", m.epochs,
                      m.epochs == 1 ? "" : "s",
                      m.optimizer == "sgd" && m.lr < 0
                          ? ""
                          : fmt::format(", {} at lr {:g}", m.optimizer, m.lr > 0 ? m.lr : kHiddenScratchLr),
                      m.seeds.empty() ? "" : fmt::format(", seeds {}", fmt::join(m.seeds, ", ")));
  for (const SchemeSpec& s : c.schemes) {
    for (const Variant& v : variants_of(s)) {
      std::vector<std::string> per_model;
      EmbedPlan p;
      for (const ModelSpec& m : c.models) {
        if (!s.models.empty() && std::find(s.models.begin(), s.models.end(), m.label) == s.models.end()) continue;
        p = embed_plan(m, v, 1);
        per_model.push_back(fmt::format("{} {} epoch{}{}", m.label, p.epochs, p.epochs == 1 ? "" : "s",
                                        p.layer.empty() ? "" : " at " + p.layer));
      }
      if (per_model.empty()) continue;
      md += fmt::format("- {}: {}, {} at lr {:g} ({}){}.\n", v.label, s.impl->describe(v.params),
                        p.from_base ? "fine-tuning the unmarked model" : "trained from scratch with the mark", p.lr,
                        fmt::join(per_model, "; "),
                        s.base_seed ? fmt::format("; unmarked model of seed {}", s.base_seed) : "");
    }
  }
  for (const AttackSpec& a : c.attacks) {
    std::string extra;
    if (a.attack == "finetune") extra = fmt::format("lr {:g} constant{}", a.lr, a.cumulative ? ", cumulative" : "");
    if (a.attack == "prune") extra = fmt::format("then {} epoch(s) of sparse fine-tuning at lr {:g}", a.finetune_epochs, a.lr);
    if (a.attack == "overwrite")
      extra = fmt::format("strength = the attacker's epochs (output mark: its epoch limit), attacker seed = seed + "
                          "1000, lr {:g}", a.lr);
    if (a.attack == "finetune") extra = "strength = epochs, " + extra;
    if (a.attack == "prune") extra = "strength = fraction of each weight tensor zeroed, " + extra;
    if (a.optimizer != "sgd") extra += fmt::format(", {}", a.optimizer);
    if (a.samples > 0) extra += fmt::format(", on {} training images", a.samples);
    if (!a.models.empty()) extra += fmt::format("; models {}", fmt::join(a.models, ", "));
    if (!a.schemes.empty()) extra += fmt::format("; watermarks {}", fmt::join(a.schemes, ", "));
    const bool unused = a.attack == "none" || a.attack == "permute" || a.attack == "unmarked";
    md += fmt::format("- Attack `{}`{}{}; white-box extraction {} (black-box schemes: labels).\n", a.attack,
                      unused ? "" : fmt::format(" at strengths {}", fmt::join(a.strengths, ", ")),
                      extra.empty() ? "" : " (" + extra + ")", fmt::join(a.extraction, ", "));
  }
  std::string decisions;
  for (const SchemeSpec& sc : c.schemes)
    if (decisions.find(sc.scheme) == std::string::npos)
      decisions += fmt::format("{}{}: claimed when p <= {} (null: {})", decisions.empty() ? "" : "; ", sc.scheme,
                               c.alpha > 0 ? fmt::format("{:g}", c.alpha) : "the scheme's default alpha",
                               sc.impl->info().null_hypothesis);
  md += fmt::format("- Decisions, exact tests: {}. Keys: key seed = the cell's seed, one domain per (scheme, model, "
                    "layer, options). An attack succeeds (robustness SoK) when accuracy stays within 5 points of the "
                    "marked model and the mark is not detected.\n\n", decisions);
  if (!c.restore_notes.empty()) md += "## Reduced settings, and the paper's\n\n" + c.restore_notes + "\n\n";
  // ------------------------------------------------------------------ checks
  if (!checks.empty()) {
    md += "## Checks\n\n| claim | rows | result |\n| --- | --- | --- |\n";
    for (const CheckResult& k : checks)
      md += fmt::format("| {} | {} | {} |\n", k.claim, k.detail, k.passed ? "**pass**" : "**FAIL**");
    md += "\n";
  }
  // ------------------------------------------------------------------ paper
  if (!c.paper_rows.empty() || !c.paper_notes.empty()) {
    md += "## Beside the paper\n\n";
    if (!c.paper_source.empty()) md += "Paper: " + c.paper_source + "\n\n";
    if (!c.paper_rows.empty()) {
      md += "| paper: setting | accuracy | watermark | detected | ours: rows | accuracy | watermark | detected |\n"
            "| --- | --- | --- | --- | --- | --- | --- | --- |\n";
      for (const PaperRow& p : c.paper_rows) {
        std::string acc, metric, det;
        const std::string ours = paper_ours(p, rows, &acc, &metric, &det);
        md += fmt::format("| {}{} | {} | {} | {} | {} | {} | {} | {} |\n", p.setting, p.note.empty() ? "" : " (" + p.note + ")",
                          p.accuracy.empty() ? "–" : p.accuracy, p.metric.empty() ? "–" : p.metric,
                          p.detected.empty() ? "–" : p.detected, ours, acc, metric, det);
      }
      md += "\n";
    }
    if (!c.paper_notes.empty()) md += c.paper_notes + "\n\n";
  }
  md += null_distribution_markdown(rows);
  md += time_to_accuracy_markdown(rows);
  // ------------------------------------------------------------------ results
  md += "## Results\n\n";
  if (figure) md += fmt::format("![{}]({}.png)\n\n", c.name, c.name);
  std::vector<std::string> keys;
  std::map<std::string, Group> groups;
  bool suspects = false, timing = false;
  for (const Row& r : rows) {
    // The metric too: rows of different metrics are never averaged together.
    const std::string k = fmt::format("{}|{}|{}|{}|{}|{}|{}", r.model, r.watermark, r.attack, r.strength, r.extraction,
                                      r.suspect, r.metric);
    if (!groups.count(k)) keys.push_back(k);
    groups[k].rows.push_back(&r);
    suspects = suspects || r.suspect != "marked";
    timing = timing || !std::isnan(r.baseline_seconds);
  }
  md += "| model | watermark | attack | strength | extraction |";
  md += suspects ? " suspect |" : "";
  md += " seeds | test acc. | vs marked | metric | value | threshold | p-value (max) | detected | attack succeeded |";
  md += timing ? " unmarked acc. | unmarked training s | embedding s |" : " seconds |";
  md += " note |";
  md += "\n|";
  const int ncols = 15 + (suspects ? 1 : 0) + (timing ? 3 : 1);
  for (int i = 0; i < ncols; ++i) md += " --- |";
  md += "\n";
  for (const std::string& k : keys) {
    const auto& g = groups[k].rows;
    const Row& f = *g[0];
    std::vector<double> acc, chg, val, thr, sec, bs, es, ua;
    double pmax = kNaN;
    int det = 0, ndet = 0, succ = 0, nsucc = 0;
    for (const Row* r : g) {
      acc.push_back(r->test_accuracy);
      chg.push_back(r->test_accuracy - r->marked_accuracy);
      val.push_back(r->value), thr.push_back(r->threshold), sec.push_back(r->seconds);
      bs.push_back(r->baseline_seconds), es.push_back(r->embed_seconds), ua.push_back(r->unmarked_accuracy);
      if (!std::isnan(r->p_value)) pmax = std::isnan(pmax) ? r->p_value : std::max(pmax, r->p_value);
      if (r->detected >= 0) ++ndet, det += r->detected;
      if (r->attack_success >= 0) ++nsucc, succ += r->attack_success;
    }
    const double ch = mean(chg);
    md += fmt::format("| {} | {} | {} | {} | {} |", f.model, f.watermark, f.attack, cell_text(f, "strength"), f.extraction);
    if (suspects) md += " " + f.suspect + " |";
    md += fmt::format(" {} | {} | {} | {} | {} | {} | {} | {} | {} |", g.size(), pct(mean(acc)),
                      std::isnan(ch) ? "–" : fmt::format("{:+.2f} pts", 100 * ch), f.metric, fmt_value(f.metric, mean(val)),
                      fmt_value(f.metric == "ber" ? "ber" : "mismatches", mean(thr)),
                      std::isnan(pmax) ? "–" : fmt::format("{:.3g}", pmax),
                      ndet ? fmt::format("{}/{}", det, ndet) : "–", nsucc ? fmt::format("{}/{}", succ, nsucc) : "–");
    md += timing ? fmt::format(" {} | {:.1f} | {:.1f} |", pct(mean(ua)), mean(bs), mean(es)) : fmt::format(" {:.1f} |", mean(sec));
    md += " " + f.note + (g.size() > 1 && g.back()->note != f.note ? " (seed " + std::to_string(f.seed) + ")" : "") + " |";
    md += "\n";
  }
  md += "\nValues are means over the seeds; \"vs marked\" is the test-accuracy change from the marked model before "
        "the attack; p-value is the largest over the seeds. Hidden marks: value = BER, threshold = the largest BER "
        "still claimed at the config's alpha (– when N bits cannot reach it). Output marks: value = mismatches of "
        "the K keys, threshold = theta.\n";
  if (timing)
    md += "Overhead rows: runtime_ratio = training time with the mark / without (marks that fine-tune a trained model: "
          "(training + embedding) / training); tta_ratio = time to the target accuracy with the mark / without, "
          "with the target in the note; one_off_seconds = embedding time outside the training loop; step_share = "
          "the mark's share of the training time at equal epochs. For these, the two seconds columns are the "
          "unmarked and marked times the ratio divides.\n";
  return md;
}

void write_report_files(const Config& c, const RunOptions& o, const std::vector<Row>& rows,
                        const std::vector<CheckResult>& checks, double seconds, bool figure, const std::string& base) {
  const std::filesystem::path dir = std::filesystem::path(base).parent_path();
  if (!dir.empty()) std::filesystem::create_directories(dir);
  write_file_atomic(base + ".csv", rows_to_csv(rows));
  write_file_atomic(base + ".md", report_markdown(c, o, rows, checks, seconds, figure));
}

}  // namespace signet::eval
