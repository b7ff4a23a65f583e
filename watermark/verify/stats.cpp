#include "watermark/verify/stats.h"

#include <algorithm>
#include <cmath>

#include "engine/error.h"

namespace signet {

double compute_BER(const std::vector<int>& extracted, const std::vector<int>& signature) {
  SIGNET_CHECK(extracted.size() == signature.size() && !signature.empty(),
               "compute_BER: {} extracted bits for a {}-bit signature", extracted.size(), signature.size());
  int64_t diff = 0;
  for (size_t i = 0; i < signature.size(); ++i) diff += (extracted[i] != 0) != (signature[i] != 0);
  return static_cast<double>(diff) / static_cast<double>(signature.size());
}

double log_binomial_pmf(int64_t n, int64_t k, double p) {
  if (k < 0 || k > n) return -INFINITY;
  const double lc = std::lgamma(n + 1.0) - std::lgamma(k + 1.0) - std::lgamma(n - k + 1.0);
  const double a = k == 0 ? 0.0 : k * std::log(p);
  const double b = n - k == 0 ? 0.0 : (n - k) * std::log1p(-p);
  return lc + a + b;
}

double binomial_upper_tail(int64_t n, int64_t k, double p) {
  SIGNET_CHECK(n >= 0 && p >= 0 && p <= 1, "binomial_upper_tail: bad arguments n={} p={}", n, p);
  if (k <= 0) return 1.0;
  if (k > n) return 0.0;
  if (p == 0) return 0.0;
  if (p == 1) return 1.0;
  // log-sum-exp over the tail terms, largest first for accuracy.
  std::vector<double> logs;
  for (int64_t i = k; i <= n; ++i) logs.push_back(log_binomial_pmf(n, i, p));
  const double mx = *std::max_element(logs.begin(), logs.end());
  double s = 0;
  for (double l : logs) s += std::exp(l - mx);
  return std::min(1.0, std::exp(mx + std::log(s)));
}

double match_p_value(int64_t n, int64_t matches) { return binomial_upper_tail(n, matches, 0.5); }

double ber_threshold(int64_t n, double alpha) {
  for (int64_t m = 0; m <= n; ++m)
    if (match_p_value(n, m) <= alpha) return static_cast<double>(n - m) / static_cast<double>(n);
  return std::nan("");
}

BitMatch match_projected_bits(const std::vector<float>& projections, const std::vector<float>& signature) {
  std::vector<int> extracted, bits;
  for (float v : projections) extracted.push_back(v > 0 ? 1 : 0);
  for (float v : signature) bits.push_back(v > 0.5f ? 1 : 0);
  BitMatch m;
  m.ber = compute_BER(extracted, bits);
  m.total = static_cast<int64_t>(bits.size());
  m.matches = m.total - static_cast<int64_t>(std::llround(m.ber * static_cast<double>(m.total)));
  m.p_value = match_p_value(m.total, m.matches);
  return m;
}

}  // namespace signet
