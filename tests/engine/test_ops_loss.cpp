// cross_entropy / bce_with_logits / one_hot: forward, fused kernel vs reference, gradients,
// double backward, errors.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/ops.h"
#include "engine/ops/dispatch.h"
#include "tests/engine/gradcheck.h"

namespace signet {
namespace {

using test::all_close;
using test::throws_error;

TEST(OpsLoss, CrossEntropyForward) {
  Tensor zeros = Tensor::zeros({2, 3});
  Tensor t = Tensor::from_vector_i64({0, 2}, {2});
  Tensor l = cross_entropy(zeros, t);
  EXPECT_EQ(l.dim(), 0);
  EXPECT_NEAR(l.item(), std::log(3.0), 1e-6);
  Tensor logits = Tensor::from_vector({1, 2, 3, 0, 0, 5}, {2, 3});
  const double r0 = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)) - 1;
  const double r1 = std::log(2 + std::exp(5.0)) - 5;
  EXPECT_NEAR(cross_entropy(logits, Tensor::from_vector_i64({0, 2}, {2})).item(), (r0 + r1) / 2, 1e-6);
  // large logits stay finite
  Tensor big = Tensor::from_vector({1000, -1000}, {1, 2});
  EXPECT_NEAR(cross_entropy(big, Tensor::from_vector_i64({0}, {1})).item(), 0, 1e-6);
  EXPECT_NEAR(cross_entropy(big, Tensor::from_vector_i64({1}, {1})).item(), 2000, 1e-2);
  // strided logits
  Tensor lt = logits.transpose_view(0, 1).contiguous().transpose_view(0, 1);
  EXPECT_NEAR(cross_entropy(lt, Tensor::from_vector_i64({0, 2}, {2})).item(), (r0 + r1) / 2, 1e-6);
}

TEST(OpsLoss, BceForward) {
  Tensor x = Tensor::from_vector({0, 2, -3, 100, -100, 100}, {2, 3});
  Tensor t = Tensor::from_vector({0.3f, 1, 0, 1, 0, 0}, {2, 3});
  auto ref = [](double v, double y) {  // the plain formula, away from overflow
    const double s = 1 / (1 + std::exp(-v));
    return -(y * std::log(s) + (1 - y) * std::log(1 - s));
  };
  const double want = (std::log(2.0) + ref(2, 1) + ref(-3, 0) + 0 + 0 + 100) / 6;
  EXPECT_NEAR(bce_with_logits(x, t).item(), want, 1e-5);
  EXPECT_EQ(bce_with_logits(x, t).dim(), 0);
  EXPECT_NEAR(bce_with_logits(Tensor::from_vector({0.7f}, {1}), Tensor::from_vector({0.25f}, {1})).item(),
              ref(0.7, 0.25), 1e-6);
}

TEST(OpsLoss, OneHot) {
  Tensor oh = one_hot(Tensor::from_vector_i64({2, 0, 1}, {3}), 3);
  EXPECT_EQ(oh.shape(), (Shape{3, 3}));
  EXPECT_EQ(oh.to_vector(), (std::vector<float>{0, 0, 1, 1, 0, 0, 0, 1, 0}));
  EXPECT_TRUE(throws_error([] { one_hot(Tensor::from_vector_i64({3}, {1}), 3); }, "label 3"));
  EXPECT_TRUE(throws_error([] { one_hot(Tensor::zeros({2}), 3); }, "int64"));
}

TEST(OpsLoss, CrossEntropyFastMatchesReference) {
  struct C { int64_t N, C; float scale; };
  const std::vector<C> cases = {{1, 1, 1}, {7, 3, 1}, {300, 129, 4}, {33, 1001, 10},
                                {5, 10, 1000}};
  Rng rng(41);
  for (const C& c : cases) {
    Tensor logits = test::uniform_tensor({c.N, c.C}, rng, -c.scale, c.scale);
    Tensor t = test::randint_tensor({c.N}, rng, c.C);
    const double ref = cpu::cross_entropy_sum_ref(logits.f32(), t.i64(), c.N, c.C);
    const double fast = cpu::cross_entropy_sum_fast(logits.f32(), t.i64(), c.N, c.C);
    EXPECT_NEAR(fast, ref, 1e-5 * c.N + 1e-5 * std::fabs(ref))
        << "N=" << c.N << " C=" << c.C << " scale=" << c.scale;
  }
  static_assert(300 * 129 > kParallelGrain);
}

TEST(OpsLoss, CrossEntropyGradient) {
  Rng rng(42);
  Tensor logits = test::uniform_tensor({4, 5}, rng, -2, 2);
  Tensor t = Tensor::from_vector_i64({0, 4, 2, 2}, {4});
  EXPECT_TRUE(test::gradcheck([](const auto& v) { return cross_entropy(v[0], v[1]); }, {logits, t}));
  EXPECT_TRUE(test::gradcheck([](const auto& v) { return cross_entropy(transpose(v[0], 0, 1), v[1]); },
                              {test::uniform_tensor({5, 4}, rng, -2, 2), t}));
  // explicit: (softmax - onehot) / N
  Tensor x = logits.clone().set_requires_grad(true);
  cross_entropy(x, t).backward();
  Tensor want = mul_scalar(sub(softmax(logits), one_hot(t, 5)), 0.25f);
  EXPECT_TRUE(all_close(x.grad(), want, 1e-6, 1e-5));
}

TEST(OpsLoss, BceGradient) {
  Rng rng(43);
  Tensor x = test::uniform_tensor({3, 4}, rng, -3, 3, 0.05f);  // |x| is a kink of the formula
  Tensor t = test::uniform_tensor({3, 4}, rng, 0, 1);
  EXPECT_TRUE(test::gradcheck([](const auto& v) { return bce_with_logits(v[0], v[1]); }, {x, t}));
  // explicit: x -> (sigmoid(x) - t) / n ; t -> -x / n
  Tensor xl = x.clone().set_requires_grad(true), tl = t.clone().set_requires_grad(true);
  bce_with_logits(xl, tl).backward();
  EXPECT_TRUE(all_close(xl.grad(), mul_scalar(sub(sigmoid(x), t), 1.0f / 12), 1e-6, 1e-5));
  EXPECT_TRUE(all_close(tl.grad(), mul_scalar(x, -1.0f / 12), 1e-6, 1e-5));
}

TEST(OpsLoss, DoubleBackward) {
  Rng rng(44);
  Tensor logits = test::uniform_tensor({3, 4}, rng, -2, 2);
  Tensor t = Tensor::from_vector_i64({1, 3, 0}, {3});
  EXPECT_TRUE(test::gradgradcheck([](const auto& v) { return cross_entropy(v[0], v[1]); }, {logits, t}));
  Tensor x = test::uniform_tensor({2, 3}, rng, -3, 3, 0.05f);
  Tensor y = test::uniform_tensor({2, 3}, rng, 0, 1);
  EXPECT_TRUE(test::gradgradcheck([](const auto& v) { return bce_with_logits(v[0], v[1]); }, {x, y}));
  // through a layer, as a loss on input gradients would
  Tensor w = test::uniform_tensor({4, 3}, rng);
  Tensor xin = test::uniform_tensor({3, 3}, rng);
  test::GradCheckOptions o;
  o.check = {true, false, false};
  EXPECT_TRUE(test::gradgradcheck(
      [](const auto& v) { return cross_entropy(linear(v[0], v[1]), v[2]); }, {xin, w, t}, o));
}

TEST(OpsLoss, Errors) {
  Tensor logits = Tensor::zeros({2, 3});
  EXPECT_TRUE(throws_error([&] { cross_entropy(logits, Tensor::from_vector_i64({0, 3}, {2})); }, "label 3"));
  EXPECT_TRUE(throws_error([&] { cross_entropy(logits, Tensor::from_vector_i64({-1, 0}, {2})); }, "label -1"));
  EXPECT_TRUE(throws_error([&] { cross_entropy(logits, Tensor::zeros({2})); }, "int64"));
  EXPECT_TRUE(throws_error([&] { cross_entropy(logits, Tensor::from_vector_i64({0}, {1})); }, "target"));
  EXPECT_TRUE(throws_error([] { cross_entropy(Tensor::zeros({3}), Tensor::arange_i64(3)); }, "[N, C]"));
  EXPECT_TRUE(throws_error([] { cross_entropy(Tensor::zeros({0, 3}), Tensor::arange_i64(0)); }, "empty"));
  EXPECT_TRUE(throws_error([&] { bce_with_logits(logits, Tensor::zeros({3, 2})); }, "one shape"));
  EXPECT_TRUE(throws_error([&] { bce_with_logits(logits, Tensor::zeros({2, 3}, DType::I64)); }, "float32"));
  EXPECT_TRUE(throws_error([] { bce_with_logits(Tensor::zeros({0}), Tensor::zeros({0})); }, "empty"));
}

}  // namespace
}  // namespace signet
