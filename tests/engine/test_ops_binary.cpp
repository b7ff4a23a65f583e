// Broadcasting binary ops: forward, fast vs reference kernel, gradients, double backward,
// errors.
#include <gtest/gtest.h>

#include "engine/ops.h"
#include "engine/ops/dispatch.h"
#include "tests/engine/gradcheck.h"

namespace signet {
namespace {

using test::all_close;
using test::throws_error;

TEST(OpsBinary, ForwardSameShape) {
  Tensor a = Tensor::from_vector({1, 2, 3, 4}, {2, 2});
  Tensor b = Tensor::from_vector({5, -6, 0.5f, 8}, {2, 2});
  EXPECT_TRUE(all_close(add(a, b), std::vector<float>{6, -4, 3.5f, 12}));
  EXPECT_TRUE(all_close(sub(a, b), std::vector<float>{-4, 8, 2.5f, -4}));
  EXPECT_TRUE(all_close(mul(a, b), std::vector<float>{5, -12, 1.5f, 32}));
  EXPECT_TRUE(all_close(div(a, b), std::vector<float>{0.2f, -1.0f / 3, 6, 0.5f}));
  EXPECT_TRUE(all_close(a + b, add(a, b), 0, 0));
  EXPECT_TRUE(all_close(a - b, sub(a, b), 0, 0));
  EXPECT_TRUE(all_close(a * b, mul(a, b), 0, 0));
  EXPECT_TRUE(all_close(a / b, div(a, b), 0, 0));
  EXPECT_TRUE(all_close(a * 2.0f, std::vector<float>{2, 4, 6, 8}));
  EXPECT_TRUE(all_close(3.0f * a, std::vector<float>{3, 6, 9, 12}));
  EXPECT_TRUE(all_close(-a, std::vector<float>{-1, -2, -3, -4}));
  EXPECT_TRUE(all_close(neg(a), std::vector<float>{-1, -2, -3, -4}));
  EXPECT_TRUE(all_close(add_scalar(a, 0.5f), std::vector<float>{1.5f, 2.5f, 3.5f, 4.5f}));
  EXPECT_TRUE(all_close(mul_scalar(a, -2), std::vector<float>{-2, -4, -6, -8}));
  EXPECT_TRUE(all_close(rsub_scalar(1, a), std::vector<float>{0, -1, -2, -3}));
  EXPECT_EQ(add(a, b).shape(), (Shape{2, 2}));
}

TEST(OpsBinary, ForwardBroadcast) {
  Tensor m = Tensor::from_vector({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, {3, 4});
  Tensor r = Tensor::from_vector({100, 200, 300, 400}, {4});
  Tensor o = add(m, r);  // [3,4] + [4]
  EXPECT_EQ(o.shape(), (Shape{3, 4}));
  EXPECT_TRUE(all_close(o, std::vector<float>{100, 201, 302, 403, 104, 205, 306, 407, 108, 209,
                                              310, 411}));
  EXPECT_TRUE(all_close(sub(r, m), std::vector<float>{100, 199, 298, 397, 96, 195, 294, 393, 92,
                                                      191, 290, 389}));
  Tensor c = Tensor::from_vector({1, 2, 3}, {3, 1});
  Tensor rr = Tensor::from_vector({10, 20, 30, 40}, {1, 4});
  Tensor outer = mul(c, rr);  // [3,1] * [1,4] -> [3,4]
  EXPECT_EQ(outer.shape(), (Shape{3, 4}));
  EXPECT_TRUE(all_close(outer, std::vector<float>{10, 20, 30, 40, 20, 40, 60, 80, 30, 60, 90,
                                                  120}));
  Tensor s = Tensor::scalar(2);
  EXPECT_EQ(div(m, s).shape(), (Shape{3, 4}));
  EXPECT_TRUE(all_close(div(s, Tensor::from_vector({1, 4}, {2})), std::vector<float>{2, 0.5f}));
  EXPECT_EQ(add(s, s).dim(), 0);
  EXPECT_EQ(add(Tensor::zeros({2, 1, 3}), Tensor::zeros({4, 1})).shape(), (Shape{2, 4, 3}));
  EXPECT_EQ(broadcast_shapes({5, 1}, {1, 6}, "t"), (Shape{5, 6}));
  EXPECT_EQ(broadcast_shapes({}, {2}, "t"), (Shape{2}));
  EXPECT_EQ(broadcast_shapes({0, 3}, {3}, "t"), (Shape{0, 3}));
}

TEST(OpsBinary, Errors) {
  Tensor a = Tensor::zeros({3, 4});
  EXPECT_TRUE(throws_error([&] { add(a, Tensor::zeros({3})); }, "do not broadcast"));
  EXPECT_TRUE(throws_error([&] { mul(a, Tensor::zeros({2, 4})); }, "[2, 4]"));
  EXPECT_TRUE(throws_error([&] { broadcast_shapes({3, 4}, {5}, "myop"); }, "myop"));
  EXPECT_TRUE(throws_error([&] { add(a, Tensor::zeros({4}, DType::I64)); }, "float32"));
  EXPECT_TRUE(throws_error([] { mul_scalar(Tensor::arange_i64(3), 2); }, "float32"));
}

// ------------------------------------------------------------ fast vs reference
struct Case {
  Shape a, b;
  bool transpose_a = false;  // a given as the transpose view of a packed tensor
};

TEST(OpsBinary, FastMatchesReference) {
  const std::vector<Case> cases = {
      {{7}, {7}},
      {{300, 129}, {300, 129}},        // > kParallelGrain, same shape
      {{257, 131}, {131}},             // row broadcast, parallel
      {{131}, {257, 131}},             // mirrored row broadcast
      {{40001}, {}},                   // scalar b
      {{}, {40001}},                   // scalar a
      {{3, 1}, {1, 4}},                // outer product: reference walk
      {{200, 1, 170}, {1, 170}},       // broadcast middle dim
      {{181, 1}, {181, 183}},          // column broadcast (reference walk)
      {{129, 300}, {300, 129}, true},  // strided a
      {{5, 3}, {3, 5}, true},
      {{1}, {1}},
      {{0, 3}, {3}},
  };
  Rng rng(42);
  for (const Case& c : cases) {
    for (BinaryOp op : {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div}) {
      Tensor a = test::uniform_tensor(c.a, rng, -2, 2);
      if (c.transpose_a) a = a.transpose_view(0, 1);
      Tensor b = test::uniform_tensor(c.b, rng, -2, 2, 0.1f);
      const Shape os = broadcast_shapes(a.shape(), b.shape(), "test");
      Tensor ref = Tensor::empty(os), fast = Tensor::empty(os);
      cpu::binary_ref(op, a, b, ref);
      cpu::binary_fast(op, a, b, fast);
      EXPECT_TRUE(all_close(fast, ref, 1e-6, 1e-6,
                            "op " + std::to_string(static_cast<int>(op)) + " " +
                                shape_str(a.shape()) + " with " + shape_str(b.shape())));
    }
  }
  static_assert(300 * 129 > kParallelGrain, "a case must exceed the parallel grain");
}

TEST(OpsBinary, ReferenceHonoursOffsets) {
  // a narrow view (offset, row stride 5) against a packed row
  Tensor big = Tensor::from_vector({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {2, 5});
  Tensor a = big.narrow_view(1, 2, 3);  // [[2,3,4],[7,8,9]]
  Tensor b = Tensor::from_vector({1, 1, 1}, {3});
  Tensor ref = Tensor::empty({2, 3}), fast = Tensor::empty({2, 3});
  cpu::binary_ref(BinaryOp::Sub, a, b, ref);
  cpu::binary_fast(BinaryOp::Sub, a, b, fast);
  EXPECT_TRUE(all_close(ref, std::vector<float>{1, 2, 3, 6, 7, 8}));
  EXPECT_TRUE(all_close(fast, std::vector<float>{1, 2, 3, 6, 7, 8}));
  EXPECT_TRUE(all_close(sub(a, b), std::vector<float>{1, 2, 3, 6, 7, 8}));
}

// ------------------------------------------------------------ gradients
TEST(OpsBinary, Gradcheck) {
  Rng rng(1);
  const std::vector<std::pair<Shape, Shape>> shapes = {
      {{3, 4}, {3, 4}}, {{3, 4}, {4}}, {{3, 1}, {1, 4}}, {{2, 3}, {}}, {{}, {2, 3}},
      {{2, 1, 3}, {4, 1}}};
  for (const auto& [sa, sb] : shapes) {
    Tensor a = test::uniform_tensor(sa, rng, -1, 1);
    Tensor b = test::uniform_tensor(sb, rng, 0.5f, 1.5f);  // away from the pole of div
    const std::string where = shape_str(sa) + " and " + shape_str(sb);
    EXPECT_TRUE(test::gradcheck([](const auto& x) { return add(x[0], x[1]); }, {a, b})) << where;
    EXPECT_TRUE(test::gradcheck([](const auto& x) { return sub(x[0], x[1]); }, {a, b})) << where;
    EXPECT_TRUE(test::gradcheck([](const auto& x) { return mul(x[0], x[1]); }, {a, b})) << where;
    EXPECT_TRUE(test::gradcheck([](const auto& x) { return div(x[0], x[1]); }, {a, b})) << where;
  }
  Tensor a = test::uniform_tensor({2, 3}, rng);
  EXPECT_TRUE(test::gradcheck([](const auto& x) { return add_scalar(x[0], 3); }, {a}));
  EXPECT_TRUE(test::gradcheck([](const auto& x) { return mul_scalar(x[0], -2.5f); }, {a}));
  EXPECT_TRUE(test::gradcheck([](const auto& x) { return neg(x[0]); }, {a}));
  EXPECT_TRUE(test::gradcheck([](const auto& x) { return rsub_scalar(2, x[0]); }, {a}));
  // the same tensor on both sides
  EXPECT_TRUE(test::gradcheck([](const auto& x) { return mul(x[0], x[0]); }, {a}));
  EXPECT_TRUE(test::gradcheck([](const auto& x) { return div(x[0], add_scalar(mul(x[0], x[0]), 1)); }, {a}));
}

TEST(OpsBinary, BroadcastGradientIsSummed) {
  Tensor a = Tensor::ones({3, 4}).set_requires_grad(true);
  Tensor b = Tensor::from_vector({1, 2, 3, 4}, {4}).set_requires_grad(true);
  Tensor c = Tensor::from_vector({1, 2, 3}, {3, 1}).set_requires_grad(true);
  Tensor s = Tensor::scalar(2).set_requires_grad(true);
  sum(mul(add(a, b), add(c, s))).backward();
  // d/db_j = sum_i (c_i + s) = 6 + 6 ; d/dc_i = sum_j (1 + b_j) = 14 ; d/ds = 14 * 3
  EXPECT_TRUE(all_close(b.grad(), std::vector<float>{12, 12, 12, 12}));
  EXPECT_EQ(c.grad().shape(), (Shape{3, 1}));
  EXPECT_TRUE(all_close(c.grad(), std::vector<float>{14, 14, 14}));
  EXPECT_EQ(s.grad().dim(), 0);
  EXPECT_FLOAT_EQ(s.grad().item(), 42);
}

TEST(OpsBinary, OnlyOneSideRequiresGrad) {
  Tensor a = Tensor::from_vector({1, 2}, {2}).set_requires_grad(true);
  Tensor k = Tensor::from_vector({3, 4}, {2});
  sum(div(mul(a, k), k)).backward();
  EXPECT_TRUE(all_close(a.grad(), std::vector<float>{1, 1}));
  EXPECT_FALSE(k.grad().defined());
}

TEST(OpsBinary, DoubleBackward) {
  Rng rng(2);
  Tensor a = test::uniform_tensor({3, 4}, rng);
  Tensor b = test::uniform_tensor({3, 4}, rng, 0.5f, 1.5f);
  Tensor r = test::uniform_tensor({4}, rng);
  EXPECT_TRUE(test::gradgradcheck([](const auto& x) { return mul(x[0], x[1]); }, {a, b}));
  EXPECT_TRUE(test::gradgradcheck([](const auto& x) { return div(x[0], x[1]); }, {a, b}));
  EXPECT_TRUE(test::gradgradcheck([](const auto& x) { return mul(x[0], x[0]); }, {a}));
  // broadcast add: the gradient of (a + r)^2 depends on both through sum_to
  EXPECT_TRUE(test::gradgradcheck(
      [](const auto& x) { Tensor s = add(x[0], x[1]); return mul(s, s); }, {a, r}));
  Tensor c = test::uniform_tensor({3, 1}, rng), d = test::uniform_tensor({1, 4}, rng);
  EXPECT_TRUE(test::gradgradcheck(
      [](const auto& x) { Tensor s = sub(x[0], x[1]); return mul(s, mul(s, s)); }, {c, d}));
  EXPECT_TRUE(test::gradgradcheck(
      [](const auto& x) { return div(mul_scalar(x[0], 3), add_scalar(x[1], 2)); }, {a, b}));
}

}  // namespace
}  // namespace signet
