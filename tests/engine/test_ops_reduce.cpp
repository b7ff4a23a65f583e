// sum / mean / sum_to / expand: forward, sum_middle fast vs reference, gradients, double
// backward, errors.
#include <gtest/gtest.h>

#include "engine/ops.h"
#include "engine/ops/dispatch.h"
#include "tests/engine/gradcheck.h"

namespace signet {
namespace {

using test::all_close;
using test::throws_error;

Tensor t234() {
  std::vector<float> v(24);
  for (int i = 0; i < 24; ++i) v[i] = static_cast<float>(i);
  return Tensor::from_vector(v, {2, 3, 4});
}

TEST(OpsReduce, SumForward) {
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor all = sum(x);
  EXPECT_EQ(all.dim(), 0);
  EXPECT_FLOAT_EQ(all.item(), 21);
  EXPECT_TRUE(all_close(sum(x, {0}), std::vector<float>{5, 7, 9}));
  EXPECT_EQ(sum(x, {0}).shape(), (Shape{3}));
  EXPECT_TRUE(all_close(sum(x, {1}), std::vector<float>{6, 15}));
  EXPECT_TRUE(all_close(sum(x, {-1}), std::vector<float>{6, 15}));
  EXPECT_EQ(sum(x, {1}, true).shape(), (Shape{2, 1}));
  EXPECT_EQ(sum(x, {}, true).shape(), (Shape{1, 1}));
  EXPECT_EQ(sum(x, {0, 1}).dim(), 0);
  EXPECT_EQ(sum(x, {1, 1}).shape(), (Shape{2}));  // repeated dims count once

  Tensor y = t234();
  Tensor s02 = sum(y, {0, 2});  // [3]: sum over i, k of 12 i + 4 j + k
  EXPECT_TRUE(all_close(s02, std::vector<float>{60, 92, 124}));
  EXPECT_EQ(sum(y, {2, 0}, true).shape(), (Shape{1, 3, 1}));
  EXPECT_TRUE(all_close(sum(y, {1}), std::vector<float>{12, 15, 18, 21, 48, 51, 54, 57}));
  // strided input
  EXPECT_TRUE(all_close(sum(x.transpose_view(0, 1), {1}), std::vector<float>{5, 7, 9}));
  // 0-d and empty
  EXPECT_FLOAT_EQ(sum(Tensor::scalar(3)).item(), 3);
  EXPECT_FLOAT_EQ(sum(Tensor::zeros({0, 3})).item(), 0);
  EXPECT_TRUE(all_close(sum(Tensor::zeros({0, 3}), {0}), std::vector<float>{0, 0, 0}));
}

TEST(OpsReduce, MeanForward) {
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_FLOAT_EQ(mean(x).item(), 3.5f);
  EXPECT_TRUE(all_close(mean(x, {0}), std::vector<float>{2.5f, 3.5f, 4.5f}));
  EXPECT_TRUE(all_close(mean(x, {1}, true), std::vector<float>{2, 5}));
  EXPECT_EQ(mean(x, {1}, true).shape(), (Shape{2, 1}));
  EXPECT_TRUE(all_close(mean(t234(), {0, 2}), std::vector<float>{7.5f, 11.5f, 15.5f}));
}

TEST(OpsReduce, SumToAndExpandForward) {
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_TRUE(all_close(sum_to(x, {3}), std::vector<float>{5, 7, 9}));
  EXPECT_TRUE(all_close(sum_to(x, {1, 3}), std::vector<float>{5, 7, 9}));
  EXPECT_TRUE(all_close(sum_to(x, {2, 1}), std::vector<float>{6, 15}));
  EXPECT_EQ(sum_to(x, {2, 1}).shape(), (Shape{2, 1}));
  EXPECT_FLOAT_EQ(sum_to(x, {}).item(), 21);
  EXPECT_TRUE(sum_to(x, {2, 3}).same(x));
  EXPECT_TRUE(all_close(sum_to(t234(), {3, 1}), std::vector<float>{60, 92, 124}));

  Tensor c = Tensor::from_vector({1, 2}, {2, 1});
  Tensor e = expand(c, {3, 2, 4});
  EXPECT_EQ(e.shape(), (Shape{3, 2, 4}));
  EXPECT_EQ(e.storage(), c.storage());  // a view
  EXPECT_FLOAT_EQ(sum(e).item(), 3 * 4 * 3);
  EXPECT_TRUE(expand(c, {2, 1}).same(c));
}

TEST(OpsReduce, Errors) {
  Tensor x = Tensor::zeros({2, 3});
  EXPECT_TRUE(throws_error([&] { sum(x, {2}); }, "out of range"));
  EXPECT_TRUE(throws_error([&] { sum(x, {-3}); }, "out of range"));
  EXPECT_TRUE(throws_error([&] { mean(x, {5}); }, "mean"));
  EXPECT_TRUE(throws_error([&] { mean(Tensor::zeros({0, 3}), {0}); }, "empty"));
  EXPECT_TRUE(throws_error([&] { sum(Tensor::arange_i64(3)); }, "float32"));
  EXPECT_TRUE(throws_error([&] { sum_to(x, {4}); }, "cannot reduce"));
  EXPECT_TRUE(throws_error([&] { sum_to(x, {1, 2, 3}); }, "cannot reduce"));
  EXPECT_TRUE(throws_error([&] { expand(x, {2, 4}); }, "cannot expand"));
  EXPECT_TRUE(throws_error([&] { expand(x, {3}); }, "cannot expand"));
}

TEST(OpsReduce, SumMiddleFastMatchesReference) {
  struct C { int64_t outer, n, inner; };
  const std::vector<C> cases = {
      {1, 1, 1},     {5, 7, 1},      {1, 40001, 1},  // one long row, above the grain
      {37, 1001, 1}, // parallel over rows
      {3, 17, 300},  {2, 300, 129},  // across rows, parallel over column blocks
      {1, 130, 256}, {1, 129, 257},  {2, 65, 513},  // block boundaries (256)
      {4, 1, 9},     {1, 0, 5},      {0, 3, 3},
  };
  Rng rng(9);
  for (const C& c : cases) {
    const Shape s{c.outer, c.n, c.inner};
    Tensor x = test::uniform_tensor(s, rng, -1, 1);
    Tensor ref = Tensor::full({c.outer, c.inner}, 123), fast = Tensor::full({c.outer, c.inner}, 123);
    cpu::sum_middle_ref(x.f32(), ref.f32(), c.outer, c.n, c.inner);
    cpu::sum_middle_fast(x.f32(), fast.f32(), c.outer, c.n, c.inner);
    // float accumulation over n terms of size <= 1: error grows like sqrt(n) ulps
    EXPECT_TRUE(all_close(fast, ref, 2e-6 * std::sqrt(static_cast<double>(c.n) + 1), 1e-5,
                          "sum_middle " + shape_str(s)));
  }
  static_assert(37 * 1001 > kParallelGrain && 2 * 300 * 129 > kParallelGrain);
}

TEST(OpsReduce, Gradcheck) {
  Rng rng(10);
  Tensor x = test::uniform_tensor({2, 3, 4}, rng);
  auto check = [&](const test::Fn& f, const std::string& what) {
    EXPECT_TRUE(test::gradcheck(f, {x})) << what;
  };
  check([](const auto& v) { return sum(v[0]); }, "sum all");
  check([](const auto& v) { return sum(v[0], {1}); }, "sum 1");
  check([](const auto& v) { return sum(v[0], {0, 2}, true); }, "sum 0,2 keepdim");
  check([](const auto& v) { return sum(v[0], {-1}); }, "sum -1");
  check([](const auto& v) { return mean(v[0]); }, "mean all");
  check([](const auto& v) { return mean(v[0], {0, 1}); }, "mean 0,1");
  check([](const auto& v) { return sum_to(v[0], {3, 1}); }, "sum_to [3,1]");
  check([](const auto& v) { return sum_to(v[0], {4}); }, "sum_to [4]");
  check([](const auto& v) { return sum(transpose(v[0], 0, 2), {0}); }, "strided sum");
  Tensor c = test::uniform_tensor({3, 1}, rng);
  EXPECT_TRUE(test::gradcheck([](const auto& v) { return expand(v[0], {2, 3, 4}); }, {c}));
  EXPECT_TRUE(test::gradcheck([](const auto& v) { return sum(v[0]); }, {Tensor::scalar(2)}));
}

TEST(OpsReduce, DoubleBackward) {
  Rng rng(12);
  Tensor x = test::uniform_tensor({3, 4}, rng);
  auto cube = [](const Tensor& t) { return mul(t, mul(t, t)); };
  EXPECT_TRUE(test::gradgradcheck([&](const auto& v) { return sum(cube(v[0])); }, {x}));
  EXPECT_TRUE(test::gradgradcheck([&](const auto& v) { return sum(cube(v[0]), {1}, true); }, {x}));
  EXPECT_TRUE(test::gradgradcheck([&](const auto& v) { return mean(cube(v[0]), {0}); }, {x}));
  // the square of a reduction: the gradient depends on the input through sum's backward
  EXPECT_TRUE(test::gradgradcheck([](const auto& v) { Tensor s = sum(v[0], {0}); return mul(s, s); }, {x}));
  EXPECT_TRUE(test::gradgradcheck([](const auto& v) { Tensor m = mean(v[0]); return mul(m, v[0]); }, {x}));
  Tensor c = test::uniform_tensor({3, 1}, rng);
  EXPECT_TRUE(test::gradgradcheck(
      [](const auto& v) { Tensor e = expand(v[0], {3, 4}); return mul(e, e); }, {c}));
}

}  // namespace
}  // namespace signet
