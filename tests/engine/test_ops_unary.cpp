// Element-wise unary ops: forward, fast (Eigen + OpenMP) vs reference, gradients, double
// backward, relu's kink, errors.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/ops.h"
#include "engine/ops/dispatch.h"
#include "tests/engine/gradcheck.h"

namespace signet {
namespace {

using test::all_close;
using test::throws_error;

const char* op_name(UnaryOp op) {
  switch (op) {
    case UnaryOp::Relu: return "relu";
    case UnaryOp::Sigmoid: return "sigmoid";
    case UnaryOp::Tanh: return "tanh";
    case UnaryOp::Exp: return "exp";
    case UnaryOp::Log: return "log";
  }
  return "?";
}

TEST(OpsUnary, Forward) {
  Tensor x = Tensor::from_vector({-1, 0, 2}, {3});
  EXPECT_TRUE(all_close(relu(x), std::vector<float>{0, 0, 2}));
  EXPECT_TRUE(all_close(sigmoid(x), std::vector<float>{1 / (1 + std::exp(1.0f)), 0.5f,
                                                        1 / (1 + std::exp(-2.0f))}));
  EXPECT_TRUE(all_close(tanh(x), std::vector<float>{std::tanh(-1.0f), 0, std::tanh(2.0f)}));
  EXPECT_TRUE(all_close(exp(x), std::vector<float>{std::exp(-1.0f), 1, std::exp(2.0f)}));
  EXPECT_TRUE(all_close(log(Tensor::from_vector({1, std::exp(1.0f), 0.25f}, {3})),
                        std::vector<float>{0, 1, std::log(0.25f)}));
  EXPECT_EQ(relu(Tensor::zeros({2, 3})).shape(), (Shape{2, 3}));
  EXPECT_EQ(exp(Tensor::scalar(0)).dim(), 0);
  // saturating inputs stay finite
  Tensor big = Tensor::from_vector({-100, 100, -1000, 1000}, {4});
  EXPECT_TRUE(all_close(sigmoid(big), std::vector<float>{0, 1, 0, 1}, 1e-30, 1e-6));
  EXPECT_TRUE(all_close(tanh(big), std::vector<float>{-1, 1, -1, 1}));
  // non-contiguous input: same values as its packed copy
  Tensor m = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3}).transpose_view(0, 1);
  EXPECT_TRUE(all_close(exp(m), exp(m.contiguous()), 0, 0));
  EXPECT_EQ(exp(m).shape(), (Shape{3, 2}));
  EXPECT_TRUE(all_close(relu_grad(Tensor::from_vector({5, 6, 7}, {3}), x),
                        std::vector<float>{0, 0, 7}));
}

TEST(OpsUnary, FastMatchesReference) {
  Rng rng(5);
  for (int64_t n : std::vector<int64_t>{1, 7, 33, 1000, kParallelGrain - 1, kParallelGrain + 1, 40001, 100003}) {
    for (UnaryOp op : {UnaryOp::Relu, UnaryOp::Sigmoid, UnaryOp::Tanh, UnaryOp::Exp,
                       UnaryOp::Log}) {
      const bool pos = op == UnaryOp::Log;
      Tensor x = test::uniform_tensor({n}, rng, pos ? 1e-3f : -12.0f, pos ? 50.0f : 12.0f);
      if (n > 2 && !pos) x.f32()[2] = 0.0f;
      Tensor ref = Tensor::empty({n}), fast = Tensor::empty({n});
      cpu::unary_ref(op, x.f32(), ref.f32(), n);
      cpu::unary_fast(op, x.f32(), fast.f32(), n);
      EXPECT_TRUE(all_close(fast, ref, 1e-6, 2e-6, std::string(op_name(op)) + " n=" +
                                                       std::to_string(n)));
    }
    Tensor g = test::uniform_tensor({n}, rng), x = test::uniform_tensor({n}, rng);
    Tensor ref = Tensor::empty({n}), fast = Tensor::empty({n});
    cpu::relu_grad_ref(g.f32(), x.f32(), ref.f32(), n);
    cpu::relu_grad_fast(g.f32(), x.f32(), fast.f32(), n);
    EXPECT_TRUE(all_close(fast, ref, 0, 0, "relu_grad n=" + std::to_string(n)));
  }
}

TEST(OpsUnary, SpecialValues) {
  // log(0) = -inf and log(-1) = nan in both kernels; exp overflow is inf in both
  const std::vector<float> xs = {0.0f, -1.0f, 100.0f};
  for (UnaryOp op : {UnaryOp::Log, UnaryOp::Exp}) {
    float ref[3], fast[3];
    cpu::unary_ref(op, xs.data(), ref, 3);
    cpu::unary_fast(op, xs.data(), fast, 3);
    EXPECT_TRUE(all_close(std::vector<float>(fast, fast + 3), std::vector<float>(ref, ref + 3),
                          0, 1e-6, op_name(op)));
  }
}

TEST(OpsUnary, Gradcheck) {
  Rng rng(6);
  Tensor x = test::uniform_tensor({3, 5}, rng, -2, 2);
  Tensor away = test::uniform_tensor({3, 5}, rng, -2, 2, 0.1f);
  Tensor pos = test::uniform_tensor({3, 5}, rng, 0.5f, 3);
  EXPECT_TRUE(test::gradcheck([](const auto& v) { return relu(v[0]); }, {away}));
  EXPECT_TRUE(test::gradcheck([](const auto& v) { return sigmoid(v[0]); }, {x}));
  EXPECT_TRUE(test::gradcheck([](const auto& v) { return tanh(v[0]); }, {x}));
  EXPECT_TRUE(test::gradcheck([](const auto& v) { return exp(v[0]); }, {x}));
  EXPECT_TRUE(test::gradcheck([](const auto& v) { return log(v[0]); }, {pos}));
  // kink skipping: relu checked on inputs that include values near 0
  test::GradCheckOptions o;
  o.kink_margin = 0.05;
  EXPECT_TRUE(test::gradcheck([](const auto& v) { return relu(v[0]); }, {x}, o));
  // relu_grad w.r.t. g (x a constant)
  EXPECT_TRUE(test::gradcheck([away](const auto& v) { return relu_grad(v[0], away); }, {x}));
  // a non-contiguous input
  EXPECT_TRUE(test::gradcheck(
      [](const auto& v) { return sigmoid(transpose(v[0], 0, 1)); }, {x}));
}

TEST(OpsUnary, ReluGradientAtKinkIsZero) {
  Tensor x = Tensor::from_vector({-1, 0, 1}, {3}).set_requires_grad(true);
  sum(relu(x)).backward();
  EXPECT_TRUE(all_close(x.grad(), std::vector<float>{0, 0, 1}, 0, 0));
}

TEST(OpsUnary, DoubleBackward) {
  Rng rng(7);
  Tensor x = test::uniform_tensor({2, 4}, rng, -2, 2);
  Tensor pos = test::uniform_tensor({2, 4}, rng, 0.5f, 3);
  EXPECT_TRUE(test::gradgradcheck([](const auto& v) { return sigmoid(v[0]); }, {x}));
  EXPECT_TRUE(test::gradgradcheck([](const auto& v) { return tanh(v[0]); }, {x}));
  EXPECT_TRUE(test::gradgradcheck([](const auto& v) { return exp(v[0]); }, {x}));
  EXPECT_TRUE(test::gradgradcheck([](const auto& v) { return log(v[0]); }, {pos}));
  // relu's second derivative is 0 away from the kink; relu(x)^2 has 2 [x > 0]
  Tensor away = test::uniform_tensor({2, 4}, rng, -2, 2, 0.1f);
  EXPECT_TRUE(test::gradgradcheck([](const auto& v) { Tensor r = relu(v[0]); return mul(r, r); },
                                  {away}));
  // explicit values: d2/dx2 sigmoid = y (1 - y)(1 - 2y) at x = 0.3
  Tensor p = Tensor::from_vector({0.3f}, {1}).set_requires_grad(true);
  Tensor g1 = grad(sum(sigmoid(p)), {p}, Tensor(), true)[0];
  Tensor g2 = grad(sum(g1), {p})[0];
  const double y = 1 / (1 + std::exp(-0.3));
  EXPECT_NEAR(g2.item(), y * (1 - y) * (1 - 2 * y), 1e-6);
}

TEST(OpsUnary, Errors) {
  Tensor i = Tensor::arange_i64(3);
  EXPECT_TRUE(throws_error([&] { relu(i); }, "float32"));
  EXPECT_TRUE(throws_error([&] { exp(i); }, "exp"));
  EXPECT_TRUE(throws_error([] { relu_grad(Tensor::zeros({2}), Tensor::zeros({3})); }, "relu_grad"));
}

}  // namespace
}  // namespace signet
