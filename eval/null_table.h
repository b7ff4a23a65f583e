// Integrity rows beside the null they are tested against: does an unmarked model agree with an
// owner's keys more often than the decision rule assumes?
//
// For every (model, watermark) with rows of attack "unmarked" (one row per unmarked suspect and
// key seed), null_distribution_markdown writes:
//  - the p-values' calibration: for t = 0.5, 0.2, 0.1, 0.05, 0.01 the share of suspects with
//    p <= t beside t. Every scheme's p-value is an exact tail of its null (hidden marks:
//    Binomial(N, 1/2) matches; output and trigger marks: Binomial(K, q0)), so under the null
//    P[p <= t] <= t. A share above t by more than chance (P[Binomial(n, t) >= count] < 0.01) is
//    flagged: those unmarked models agree more often than the null says (the check assumes
//    independent rows; rows sharing a key set are correlated, which the text says), and the
//    smallest p-value, which the decision threshold has to clear.
//  - for BER rows (N bits): the observed matches against n x Binomial(N, 1/2), as a histogram
//    table, with the mean and spread of both.
#pragma once
#include <string>
#include <vector>

#include "eval/results.h"

namespace signet::eval {

// "" when there are no unmarked rows with a p-value.
std::string null_distribution_markdown(const std::vector<Row>& rows);

}  // namespace signet::eval
