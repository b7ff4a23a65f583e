#include "eval/null_table.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "watermark/verify/stats.h"

namespace signet::eval {

namespace {
struct Group {
  std::string model, watermark, metric;
  int64_t bits = -1;
  std::vector<double> p_values, values;
};

std::string calibration(const Group& g) {
  const auto n = static_cast<int64_t>(g.p_values.size());
  std::string md = "| p-value at most | suspects (observed) | share | share allowed by the null | more than chance? |\n"
                   "| --- | --- | --- | --- | --- |\n";
  for (double t : {0.5, 0.2, 0.1, 0.05, 0.01}) {
    const auto count = static_cast<int64_t>(std::count_if(g.p_values.begin(), g.p_values.end(),
                                                          [&](double p) { return p <= t; }));
    const double chance = count == 0 ? 1.0 : binomial_upper_tail(n, count, t);
    md += fmt::format("| {:g} | {} of {} | {:.2f} | ≤ {:g} | {} |\n", t, count, n, static_cast<double>(count) / n, t,
                      chance < 0.01 ? fmt::format("**yes** (P = {:.2g})", chance) : fmt::format("no (P = {:.2g})", chance));
  }
  return md;
}

// Observed matches of BER rows beside n x Binomial(N, 1/2).
std::string ber_histogram(const Group& g) {
  const int64_t N = g.bits;
  const auto n = static_cast<int64_t>(g.values.size());
  std::map<int64_t, int64_t> observed;
  double sum = 0, sq = 0;
  for (double ber : g.values) {
    const auto k = static_cast<int64_t>(std::llround((1.0 - ber) * static_cast<double>(N)));
    ++observed[k];
    sum += static_cast<double>(k);
    sq += static_cast<double>(k) * static_cast<double>(k);
  }
  const double mean = sum / n, sd = n > 1 ? std::sqrt(std::max(0.0, (sq - n * mean * mean) / (n - 1))) : 0.0;
  std::string md = fmt::format(
      "Matches of the {} signature bits: observed mean {:.2f}, sd {:.2f}; null Binomial({}, 1/2) mean {:.2f}, sd "
      "{:.2f}.\n\n| matches | observed | expected under the null |\n| --- | --- | --- |\n",
      N, mean, sd, N, N / 2.0, std::sqrt(static_cast<double>(N)) / 2);
  for (int64_t k = 0; k <= N; ++k) {
    const double expected = n * std::exp(log_binomial_pmf(N, k, 0.5));
    const int64_t seen = observed.count(k) ? observed.at(k) : 0;
    if (seen == 0 && expected < 0.05) continue;
    md += fmt::format("| {} | {} | {:.2f} |\n", k, seen, expected);
  }
  return md;
}
}  // namespace

std::string null_distribution_markdown(const std::vector<Row>& rows) {
  std::vector<std::string> order;
  std::map<std::string, Group> groups;
  for (const Row& r : rows) {
    if (r.attack != "unmarked" || std::isnan(r.p_value)) continue;
    const std::string key = r.model + "|" + r.watermark + "|" + r.metric;
    if (!groups.count(key)) {
      order.push_back(key);
      groups[key] = Group{r.model, r.watermark, r.metric, r.bits, {}, {}};
    }
    groups[key].p_values.push_back(r.p_value);
    groups[key].values.push_back(r.value);
  }
  if (order.empty()) return "";
  std::string md =
      "## Unmarked models beside the null\n\n"
      "Each decision is an exact test of a null hypothesis (the scheme's, `signet schemes`). If the null holds, at "
      "most a share t of unmarked models reach p <= t. A larger share, beyond chance, means unmarked models agree "
      "with the keys more often than the null says, and the decision rule would claim too much. The chance column "
      "treats the rows as independent; rows that share a key set are not (suspects that answer alike meet the same "
      "keys), so a flag at large t with none in the tail is a reason to look, not a failed rule. The smallest "
      "p-value among the rows is what the decision threshold has to clear.\n\n";
  for (const std::string& key : order) {
    const Group& g = groups.at(key);
    md += fmt::format("### {} keys, {} (marked {}) read from {} unmarked models\n\n", g.watermark, g.metric, g.model,
                      g.p_values.size());
    md += calibration(g);
    md += fmt::format("Smallest p-value: {:.3g}.\n\n", *std::min_element(g.p_values.begin(), g.p_values.end()));
    if (g.metric == "ber" && g.bits > 0) md += ber_histogram(g) + "\n";
  }
  return md;
}

}  // namespace signet::eval
