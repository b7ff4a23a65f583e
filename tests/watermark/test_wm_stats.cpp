#include <gtest/gtest.h>

#include <cmath>

#include "engine/error.h"
#include "watermark/verify/stats.h"

using namespace signet;

TEST(WmStats, BinomialTailMatchesDirectSums) {
  // P[Bin(10, 0.5) >= 8] = (45 + 10 + 1) / 1024
  EXPECT_NEAR(binomial_upper_tail(10, 8, 0.5), 56.0 / 1024.0, 1e-15);
  EXPECT_DOUBLE_EQ(binomial_upper_tail(10, 0, 0.5), 1.0);
  EXPECT_DOUBLE_EQ(binomial_upper_tail(10, 11, 0.5), 0.0);
  // P[Bin(5, 0.1) >= 2] = 1 - 0.9^5 - 5 * 0.1 * 0.9^4
  EXPECT_NEAR(binomial_upper_tail(5, 2, 0.1), 1 - std::pow(0.9, 5) - 0.5 * std::pow(0.9, 4), 1e-14);
}

TEST(WmStats, MatchPValueOfAPerfectMatchIsTwoToMinusN) {
  EXPECT_NEAR(match_p_value(32, 32), std::ldexp(1.0, -32), 1e-22);
  EXPECT_NEAR(match_p_value(128, 128) / std::ldexp(1.0, -128), 1.0, 1e-9);
  EXPECT_NEAR(match_p_value(4, 4), 1.0 / 16, 1e-15);
  // Half the bits matching is what chance gives: p a bit above 1/2.
  EXPECT_GT(match_p_value(32, 16), 0.5);
  EXPECT_LT(match_p_value(32, 16), 0.6);
}

TEST(WmStats, BitErrorRate) {
  EXPECT_DOUBLE_EQ(compute_BER({1, 0, 1, 1}, {1, 0, 1, 1}), 0.0);
  EXPECT_DOUBLE_EQ(compute_BER({1, 0, 1, 1}, {0, 0, 1, 0}), 0.5);
  EXPECT_THROW(compute_BER({1, 0}, {1}), Error);
}
