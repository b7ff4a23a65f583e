// Inverted dropout: identity cases, keep rate, scaling, reproducibility, gradient = mask.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/ops.h"
#include "tests/engine/gradcheck.h"

namespace signet {
namespace {

using test::all_close;
using test::throws_error;

TEST(OpsDropout, IdentityCases) {
  Rng rng(1);
  Tensor x = test::uniform_tensor({4, 5}, rng);
  const auto before = rng.state();
  EXPECT_TRUE(dropout(x, 0.0f, true, rng).same(x));
  EXPECT_TRUE(dropout(x, 0.5f, false, rng).same(x));
  EXPECT_EQ(rng.state(), before);  // no randomness consumed
}

TEST(OpsDropout, KeepRateAndScaling) {
  const int64_t n = 200000;
  for (float p : {0.1f, 0.3f, 0.5f, 0.9f}) {
    Rng rng(static_cast<uint64_t>(p * 1000));
    Tensor x = Tensor::full({n}, 2.0f);
    const std::vector<float> y = dropout(x, p, true, rng).to_vector();
    const float scaled = 2.0f / (1.0f - p);
    int64_t kept = 0;
    for (float v : y) {
      if (v != 0.0f) {
        ++kept;
        ASSERT_FLOAT_EQ(v, scaled) << "p=" << p;
      }
    }
    const double rate = static_cast<double>(kept) / n;
    const double sigma = std::sqrt(p * (1 - p) / n);
    EXPECT_NEAR(rate, 1 - p, 5 * sigma + 1.0 / 65536) << "p=" << p;
    // the mean is preserved in expectation
    double mean = 0;
    for (float v : y) mean += v;
    EXPECT_NEAR(mean / n, 2.0, 10 * sigma * scaled) << "p=" << p;
  }
}

TEST(OpsDropout, MaskIsNotStructured) {
  // neighbouring elements (which share one 64-bit draw) are independent: P(both kept) ~ (1-p)^2
  Rng rng(5);
  const int64_t n = 100000;
  const std::vector<float> y = dropout(Tensor::ones({n}), 0.5f, true, rng).to_vector();
  int64_t both = 0;
  for (int64_t i = 0; i + 1 < n; i += 2) both += (y[i] != 0 && y[i + 1] != 0);
  EXPECT_NEAR(static_cast<double>(both) / (n / 2), 0.25, 0.01);
}

TEST(OpsDropout, SameSeedSameMask) {
  Tensor x = Tensor::ones({1000});
  Rng r1(77), r2(77), r3(78);
  const auto a = dropout(x, 0.4f, true, r1).to_vector();
  const auto b = dropout(x, 0.4f, true, r2).to_vector();
  const auto c = dropout(x, 0.4f, true, r3).to_vector();
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  // the generator advances: a second call gives a different mask
  EXPECT_NE(dropout(x, 0.4f, true, r1).to_vector(), a);
}

TEST(OpsDropout, GradientEqualsMask) {
  Rng rng(9);
  Tensor x = test::uniform_tensor({6, 7}, rng, 0.5f, 1.5f).set_requires_grad(true);
  Rng r(3);
  Tensor y = dropout(x, 0.3f, true, r);
  sum(y).backward();
  const auto yv = y.to_vector(), xv = x.to_vector(), gv = x.grad().to_vector();
  for (size_t i = 0; i < yv.size(); ++i) EXPECT_FLOAT_EQ(gv[i], yv[i] / xv[i]) << i;
  // a fixed-seed dropout is linear: finite differences agree
  EXPECT_TRUE(test::gradcheck(
      [](const auto& v) { Rng rr(3); return dropout(v[0], 0.3f, true, rr); }, {x.detach()}));
  // eval mode passes the gradient through unchanged
  Tensor z = x.detach().clone().set_requires_grad(true);
  sum(dropout(z, 0.3f, false, r)).backward();
  EXPECT_TRUE(all_close(z.grad(), std::vector<float>(42, 1.0f)));
}

TEST(OpsDropout, Errors) {
  Rng rng(1);
  Tensor x = Tensor::ones({3});
  EXPECT_TRUE(throws_error([&] { dropout(x, 1.0f, true, rng); }, "probability"));
  EXPECT_TRUE(throws_error([&] { dropout(x, -0.1f, true, rng); }, "probability"));
  EXPECT_TRUE(throws_error([&] { dropout(Tensor::arange_i64(3), 0.5f, true, rng); }, "float32"));
}

}  // namespace
}  // namespace signet
