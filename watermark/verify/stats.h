// Statistics for ownership decisions.
//
// compute_BER(extracted, signature): fraction of differing bits.
// binomial_upper_tail(n, k, p): P[X >= k] for X ~ Binomial(n, p), exact (log-space sums).
// match_p_value(n, matches): the probability that a model unrelated to the keys matches at
//   least `matches` of n signature bits by chance. Under that null hypothesis each extracted
//   bit agrees with an independent random signature bit with probability 1/2, so the p-value is
//   the Binomial(n, 1/2) upper tail. A verifier claims ownership when p <= alpha.
#pragma once
#include <cstdint>
#include <vector>

namespace signet {

double compute_BER(const std::vector<int>& extracted, const std::vector<int>& signature);
double log_binomial_pmf(int64_t n, int64_t k, double p);
double binomial_upper_tail(int64_t n, int64_t k, double p);  // P[X >= k]
double match_p_value(int64_t n, int64_t matches);
// The largest BER at which n bits are still claimed (match_p_value <= alpha); NaN when even a
// perfect match is not enough (2^-n > alpha).
double ber_threshold(int64_t n, double alpha);

// Bits read by the sign of projections (> 0 -> 1) against a 0/1 signature (> 0.5 -> 1): the
// extraction shared by the projection schemes (Uchida, GradSigns).
struct BitMatch {
  double ber = 1;
  int64_t matches = 0, total = 0;
  double p_value = 1;
};
BitMatch match_projected_bits(const std::vector<float>& projections, const std::vector<float>& signature);

}  // namespace signet
