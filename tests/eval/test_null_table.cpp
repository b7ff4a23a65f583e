// Unmarked models beside the null (eval/null_table.h): the p-value calibration flags a key set
// that unmarked models agree with too often, and the BER histogram counts matches against
// n x Binomial(N, 1/2).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "eval/null_table.h"

using namespace signet::eval;

namespace {
Row unmarked(const std::string& watermark, double ber, double p) {
  Row r;
  r.model = "mnist-mlp";
  r.watermark = watermark;
  r.metric = "ber";
  r.bits = 32;
  r.attack = "unmarked";
  r.value = ber;
  r.p_value = p;
  return r;
}

// The section of the report about one watermark.
std::string section(const std::string& md, const std::string& watermark) {
  const size_t at = md.find("### " + watermark + " keys");
  if (at == std::string::npos) return "";
  return md.substr(at, md.find("### ", at + 4) - at);
}
}  // namespace

TEST(NullTable, FlagsKeysThatUnmarkedModelsAgreeWithTooOften) {
  std::vector<Row> rows;
  // 20 suspects whose p-values spread like the null's: no flag.
  for (int i = 0; i < 20; ++i) rows.push_back(unmarked("calm", 0.5, (i + 0.5) / 20.0));
  // 20 suspects that all agree strongly (p <= 0.01): the rule would claim too much.
  for (int i = 0; i < 20; ++i) rows.push_back(unmarked("leaky", 0.25, 0.005));
  Row marked = unmarked("calm", 0, 1e-10);
  marked.attack = "none";
  rows.push_back(marked);  // not an integrity row: ignored
  const std::string md = null_distribution_markdown(rows);
  const std::string calm = section(md, "calm"), leaky = section(md, "leaky");
  ASSERT_FALSE(calm.empty()) << md;
  ASSERT_FALSE(leaky.empty()) << md;
  EXPECT_NE(calm.find("read from 20 unmarked models"), std::string::npos);
  EXPECT_EQ(calm.find("**yes**"), std::string::npos) << calm;
  EXPECT_NE(calm.find("| 0.05 | 1 of 20 | 0.05 |"), std::string::npos) << calm;
  EXPECT_NE(leaky.find("| 0.01 | 20 of 20 | 1.00 | ≤ 0.01 | **yes**"), std::string::npos) << leaky;
  // BER 0.5 of 32 bits = 16 matches, 20 times; BER 0.25 = 24 matches.
  EXPECT_NE(calm.find("| 16 | 20 | 2.80 |"), std::string::npos) << calm;
  EXPECT_NE(calm.find("observed mean 16.00, sd 0.00; null Binomial(32, 1/2) mean 16.00, sd 2.83"), std::string::npos);
  EXPECT_NE(leaky.find("| 24 | 20 |"), std::string::npos) << leaky;
  EXPECT_NE(leaky.find("Smallest p-value: 0.005."), std::string::npos) << leaky;
}

TEST(NullTable, NothingWithoutIntegrityRows) {
  Row r = unmarked("x", 0, 1e-9);
  r.attack = "finetune";
  EXPECT_EQ(null_distribution_markdown({r}), "");
}
