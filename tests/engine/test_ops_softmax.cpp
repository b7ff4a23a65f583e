// softmax / log_softmax: forward, stability, fast vs reference, gradients, double backward.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/ops.h"
#include "engine/ops/dispatch.h"
#include "tests/engine/gradcheck.h"

namespace signet {
namespace {

using test::all_close;
using test::throws_error;

TEST(OpsSoftmax, Forward) {
  Tensor x = Tensor::from_vector({1, 2, 3}, {1, 3});
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  const std::vector<float> p = {static_cast<float>(std::exp(1.0) / z),
                                static_cast<float>(std::exp(2.0) / z),
                                static_cast<float>(std::exp(3.0) / z)};
  EXPECT_TRUE(all_close(softmax(x), p, 1e-7, 1e-6));
  EXPECT_TRUE(all_close(log_softmax(x),
                        std::vector<float>{static_cast<float>(1 - std::log(z)),
                                           static_cast<float>(2 - std::log(z)),
                                           static_cast<float>(3 - std::log(z))},
                        1e-6, 1e-6));
  // shift invariance and stability with large logits
  Tensor big = Tensor::from_vector({1001, 1002, 1003, -1000, -1000, -1000}, {2, 3});
  EXPECT_TRUE(all_close(softmax(big), std::vector<float>{p[0], p[1], p[2], 1.f / 3, 1.f / 3, 1.f / 3},
                        1e-6, 1e-5));
  for (float v : log_softmax(big).to_vector()) EXPECT_TRUE(std::isfinite(v));
  // along dim 0 of [2, 3] (columns): each column sums to 1
  Tensor m = Tensor::from_vector({0, 1, 2, 2, 1, 0}, {2, 3});
  const std::vector<float> s0 = softmax(m, 0).to_vector();
  for (int j = 0; j < 3; ++j) EXPECT_NEAR(s0[j] + s0[3 + j], 1.0, 1e-6);
  EXPECT_NEAR(s0[0], 1 / (1 + std::exp(2.0)), 1e-6);
  EXPECT_NEAR(s0[1], 0.5, 1e-6);
  EXPECT_TRUE(all_close(softmax(m, -2), softmax(m, 0), 0, 0));
  // strided input equals its packed copy
  Tensor t = m.transpose_view(0, 1);
  EXPECT_TRUE(all_close(softmax(t, 1), softmax(t.contiguous(), 1), 0, 0));
  // a single class
  EXPECT_TRUE(all_close(softmax(Tensor::from_vector({5, -3}, {2, 1})), std::vector<float>{1, 1}));
  EXPECT_TRUE(all_close(log_softmax(Tensor::from_vector({5, -3}, {2, 1})), std::vector<float>{0, 0}));
}

TEST(OpsSoftmax, FastMatchesReference) {
  struct C { int64_t outer, n, inner; };
  const std::vector<C> cases = {{1, 1, 1},    {1, 7, 1},   {300, 129, 1},  // > grain
                                {3, 40001, 1}, {4, 33, 5}, {2, 17, 300},   // inner path
                                {5, 1000, 1}};
  Rng rng(31);
  for (const C& c : cases) {
    Tensor x = test::uniform_tensor({c.outer, c.n, c.inner}, rng, -8, 8);
    for (bool log : {false, true}) {
      Tensor ref = Tensor::empty(x.shape()), fast = Tensor::empty(x.shape());
      cpu::softmax_ref(x.f32(), ref.f32(), c.outer, c.n, c.inner, log);
      cpu::softmax_fast(x.f32(), fast.f32(), c.outer, c.n, c.inner, log);
      EXPECT_TRUE(all_close(fast, ref, log ? 1e-5 : 1e-8, 1e-5,
                            std::string(log ? "log_softmax " : "softmax ") + shape_str(x.shape())));
    }
  }
  static_assert(300 * 129 > kParallelGrain);
}

TEST(OpsSoftmax, Gradcheck) {
  Rng rng(32);
  Tensor x = test::uniform_tensor({3, 5}, rng, -2, 2);
  Tensor y = test::uniform_tensor({2, 3, 4}, rng, -2, 2);
  EXPECT_TRUE(test::gradcheck([](const auto& v) { return softmax(v[0]); }, {x}));
  EXPECT_TRUE(test::gradcheck([](const auto& v) { return softmax(v[0], 0); }, {x}));
  EXPECT_TRUE(test::gradcheck([](const auto& v) { return softmax(v[0], 1); }, {y}));
  EXPECT_TRUE(test::gradcheck([](const auto& v) { return log_softmax(v[0]); }, {x}));
  EXPECT_TRUE(test::gradcheck([](const auto& v) { return log_softmax(v[0], 0); }, {x}));
  EXPECT_TRUE(test::gradcheck([](const auto& v) { return log_softmax(v[0], -2); }, {y}));
  EXPECT_TRUE(test::gradcheck([](const auto& v) { return softmax(transpose(v[0], 0, 1), 1); }, {x}));
}

TEST(OpsSoftmax, DoubleBackward) {
  Rng rng(33);
  Tensor x = test::uniform_tensor({3, 4}, rng, -2, 2);
  EXPECT_TRUE(test::gradgradcheck([](const auto& v) { return softmax(v[0]); }, {x}));
  EXPECT_TRUE(test::gradgradcheck([](const auto& v) { return softmax(v[0], 0); }, {x}));
  EXPECT_TRUE(test::gradgradcheck([](const auto& v) { return log_softmax(v[0]); }, {x}));
  EXPECT_TRUE(test::gradgradcheck([](const auto& v) { return log_softmax(v[0], 0); }, {x}));
}

TEST(OpsSoftmax, Errors) {
  Tensor x = Tensor::zeros({2, 3});
  EXPECT_TRUE(throws_error([&] { softmax(x, 2); }, "dim out of range"));
  EXPECT_TRUE(throws_error([&] { log_softmax(x, -3); }, "log_softmax"));
  EXPECT_TRUE(throws_error([] { softmax(Tensor::zeros({2, 3}, DType::I64)); }, "float32"));
}

TEST(OpsSoftmax, EmptySoftmaxDim) {
  // An empty softmax dim gives an empty result, as in PyTorch (the fast path once called
  // Eigen's maxCoeff on the empty row).
  EXPECT_EQ(log_softmax(Tensor::zeros({0, 3})).shape(), (Shape{0, 3}));
  EXPECT_EQ(softmax(Tensor::zeros({2, 0})).shape(), (Shape{2, 0}));
  EXPECT_EQ(log_softmax(Tensor::zeros({2, 0})).shape(), (Shape{2, 0}));
}

}  // namespace
}  // namespace signet
