// max_pool2d, avg_pool2d, global_avg_pool: hand-computed examples (padding as -inf / as zeros,
// ties), fast vs reference, gradient and double-backward checks, errors.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <numeric>
#include <tuple>

#include "engine/ops.h"
#include "tests/engine/gradcheck.h"

namespace signet {
namespace {

using test::all_close;
using test::throws_error;

Tensor iota(const Shape& s, float scale = 1.0f) {
  std::vector<float> v(shape_numel(s));
  for (size_t i = 0; i < v.size(); ++i) v[i] = (i + 1) * scale;
  return Tensor::from_vector(v, s);
}

// Distinct values (a shuffled grid 0.1 apart): finite differences never flip an argmax.
Tensor distinct(const Shape& s, Rng& rng) {
  std::vector<int64_t> p(shape_numel(s));
  std::iota(p.begin(), p.end(), 0);
  rng.shuffle(p);
  std::vector<float> v(p.size());
  for (size_t i = 0; i < v.size(); ++i) v[i] = 0.1f * (p[i] - static_cast<float>(p.size()) / 2);
  return Tensor::from_vector(v, s);
}

TEST(OpsPool, MaxHandComputed) {
  Tensor x = iota({1, 1, 4, 4});
  auto [y, idx] = max_pool2d_with_indices(x, 2);
  EXPECT_EQ(y.shape(), (Shape{1, 1, 2, 2}));
  EXPECT_TRUE(all_close(y, std::vector<float>{6, 8, 14, 16}));
  EXPECT_EQ(idx.to_vector_i64(), (std::vector<int64_t>{5, 7, 13, 15}));
  // k3 s2 p1 on negative values: the padding is -inf, never 0.
  auto [yn, in] = max_pool2d_with_indices(iota({1, 1, 4, 4}, -1.0f), 3, 2, 1);
  EXPECT_TRUE(all_close(yn, std::vector<float>{-1, -2, -5, -6}));
  EXPECT_EQ(in.to_vector_i64(), (std::vector<int64_t>{0, 1, 4, 5}));
  // stride 1 (overlapping windows), 3x3 input, k2: 4 windows
  EXPECT_TRUE(all_close(max_pool2d(iota({1, 1, 3, 3}), 2, 1), std::vector<float>{5, 6, 8, 9}));
  // backward routes to the argmax; overlapping windows add up
  Tensor xl = iota({1, 1, 3, 3}).set_requires_grad(true);
  sum(max_pool2d(xl, 2, 1)).backward();
  EXPECT_TRUE(all_close(xl.grad(), std::vector<float>{0, 0, 0, 0, 1, 1, 0, 1, 1}));
}

TEST(OpsPool, MaxTiesGoToTheFirst) {
  Tensor x = Tensor::from_vector({3, 3, 1, 3, 3, 3, 2, 0, 1}, {1, 1, 3, 3});
  x.set_requires_grad(true);
  auto [y, idx] = max_pool2d_with_indices(x, 2, 1);
  EXPECT_EQ(idx.to_vector_i64(), (std::vector<int64_t>{0, 1, 3, 4}));
  sum(y).backward();
  EXPECT_TRUE(all_close(x.grad(), std::vector<float>{1, 1, 0, 1, 1, 0, 0, 0, 0}));
}

// NaN propagates (PyTorch): the window holding it outputs NaN and points at it; other planes
// and windows are unaffected (the fast path sends NaN planes to the reference loop).
TEST(OpsPool, MaxNaNPropagates) {
  Tensor x = iota({2, 1, 4, 4});
  x.f32()[5] = NAN;  // plane 0, row 1, column 1
  auto [y, idx] = max_pool2d_with_indices(x, 2);
  const std::vector<float> v = y.to_vector();
  EXPECT_TRUE(std::isnan(v[0]));
  EXPECT_EQ(idx.to_vector_i64()[0], 5);
  EXPECT_EQ(v[1], 8);
  EXPECT_EQ(v[4], 22);  // plane 1, first window: max of 17, 18, 21, 22
  const Pool2dGeom g = pool2d_geom("test", x.shape(), 3, 1, 1);
  Tensor yr = Tensor::empty({2, 1, g.Ho, g.Wo}), yf = Tensor::empty(yr.shape());
  Tensor ir = Tensor::empty(yr.shape(), DType::I64), ifa = Tensor::empty(yr.shape(), DType::I64);
  cpu::max_pool2d_ref(g, x.f32(), yr.f32(), ir.i64());
  cpu::max_pool2d_fast(g, x.f32(), yf.f32(), ifa.i64());
  EXPECT_TRUE(all_close(yf, yr, 0, 0, "NaN"));
  EXPECT_EQ(ifa.to_vector_i64(), ir.to_vector_i64());
}

TEST(OpsPool, AvgAndGlobalHandComputed) {
  EXPECT_TRUE(all_close(avg_pool2d(iota({1, 1, 4, 4}), 2), std::vector<float>{3.5f, 5.5f, 11.5f, 13.5f}));
  // count_include_pad: every window divides by 9
  EXPECT_TRUE(all_close(avg_pool2d(iota({1, 1, 4, 4}), 3, 2, 1), std::vector<float>{14 / 9.f, 30 / 9.f, 57 / 9.f, 11}));
  Tensor xl = iota({1, 1, 4, 4}).set_requires_grad(true);
  sum(avg_pool2d(xl, 3, 2, 1)).backward();
  // pixel (1,1) is in all four windows, (0,0) in one, (3,3) in one
  const std::vector<float> g = xl.grad().to_vector();
  EXPECT_FLOAT_EQ(g[5], 4 / 9.f);
  EXPECT_FLOAT_EQ(g[0], 1 / 9.f);
  EXPECT_FLOAT_EQ(g[15], 1 / 9.f);
  Tensor x = iota({2, 3, 2, 2});
  Tensor m = global_avg_pool(x);
  EXPECT_EQ(m.shape(), (Shape{2, 3}));
  EXPECT_TRUE(all_close(m, std::vector<float>{2.5f, 6.5f, 10.5f, 14.5f, 18.5f, 22.5f}));
  EXPECT_TRUE(all_close(m, mean(x, {2, 3})));
}

// Ties (values from {0, 1, 2}, and -inf, which the padding's -inf must not beat): the first
// maximum in the window wins, in the fast 2x2 and 3x3 stride-2 paths too.
TEST(OpsPool, FastMaxPoolTiesLikeReference) {
  Rng rng(32);
  for (int64_t k : {2, 3}) {
    const Shape s{2, 3, 34, 68};
    const Pool2dGeom g = pool2d_geom("test", s, k, 2, k - 2);
    Tensor x = test::uniform_tensor(s, rng, 0, 4);
    for (int64_t i = 0; i < x.numel(); ++i)
      x.f32()[i] = x.f32()[i] >= 3 ? -std::numeric_limits<float>::infinity() : std::floor(x.f32()[i]);
    for (int64_t i = 0; i < 3 * 68; ++i) x.f32()[i] = -std::numeric_limits<float>::infinity();  // whole windows
    const Shape ys{g.N, g.C, g.Ho, g.Wo};
    Tensor yr = Tensor::empty(ys), yf = Tensor::empty(ys);
    Tensor ir = Tensor::empty(ys, DType::I64), ifa = Tensor::empty(ys, DType::I64);
    cpu::max_pool2d_ref(g, x.f32(), yr.f32(), ir.i64());
    cpu::max_pool2d_fast(g, x.f32(), yf.f32(), ifa.i64());
    EXPECT_TRUE(all_close(yf, yr, 0, 0, "ties"));
    EXPECT_EQ(ifa.to_vector_i64(), ir.to_vector_i64()) << "k" << k;
  }
}

TEST(OpsPool, FastMatchesReference) {
  struct Case { Shape s; int64_t k, st, p; };
  const std::vector<Case> cases = {{{1, 1, 4, 4}, 2, 2, 0},    {{2, 3, 7, 5}, 3, 2, 1},   {{3, 2, 9, 9}, 3, 1, 1},
                                   {{2, 2, 6, 11}, 2, 3, 1},   {{1, 4, 5, 5}, 5, 1, 2},   {{4, 32, 16, 16}, 2, 2, 0},
                                   {{2, 16, 15, 17}, 3, 2, 1}, {{1, 3, 8, 8}, 4, 4, 0},
                                   {{2, 3, 9, 7}, 3, 2, 0},    {{3, 2, 7, 9}, 2, 1, 0},
                                   // 2x2 stride 2 (16 outputs a vector): exactly 16 a row; 18
                                   // (a vector and a tail) with odd H and W; a tail alone
                                   {{2, 3, 32, 32}, 2, 2, 0},  {{2, 2, 35, 37}, 2, 2, 0}, {{1, 2, 9, 8}, 2, 2, 0},
                                   // 3x3 stride 2 padding 1 (16 outputs a vector): exactly 16 a
                                   // row; two vectors and a tail with odd H; one and a tail
                                   // (W = 33); a tail alone
                                   {{2, 3, 32, 32}, 3, 2, 1},  {{2, 2, 67, 70}, 3, 2, 1}, {{1, 2, 9, 33}, 3, 2, 1},
                                   {{1, 2, 6, 30}, 3, 2, 1}};
  Rng rng(31);
  for (const Case& c : cases) {
    const Pool2dGeom g = pool2d_geom("test", c.s, c.k, c.st, c.p);
    const std::string what = shape_str(c.s) + " k" + std::to_string(c.k) + " s" + std::to_string(c.st) + " p" +
                             std::to_string(c.p);
    Tensor x = test::uniform_tensor(c.s, rng);
    const Shape ys{g.N, g.C, g.Ho, g.Wo};
    Tensor dy = test::uniform_tensor(ys, rng);
    Tensor yr = Tensor::empty(ys), yf = Tensor::empty(ys);
    Tensor ir = Tensor::empty(ys, DType::I64), ifa = Tensor::empty(ys, DType::I64);
    cpu::max_pool2d_ref(g, x.f32(), yr.f32(), ir.i64());
    cpu::max_pool2d_fast(g, x.f32(), yf.f32(), ifa.i64());
    EXPECT_TRUE(all_close(yf, yr, 0, 0, what + " max"));
    EXPECT_EQ(ifa.to_vector_i64(), ir.to_vector_i64()) << what;
    Tensor dr = Tensor::empty(c.s), df = Tensor::full(c.s, 5.0f);
    cpu::max_pool2d_backward_ref(g, dy.f32(), ir.i64(), dr.f32());
    cpu::max_pool2d_backward_fast(g, dy.f32(), ir.i64(), df.f32());
    EXPECT_TRUE(all_close(df, dr, 1e-6, 1e-6, what + " max backward"));
    cpu::avg_pool2d_ref(g, x.f32(), yr.f32());
    cpu::avg_pool2d_fast(g, x.f32(), yf.f32());
    EXPECT_TRUE(all_close(yf, yr, 1e-6, 1e-5, what + " avg"));
    cpu::avg_pool2d_backward_ref(g, dy.f32(), dr.f32());
    cpu::avg_pool2d_backward_fast(g, dy.f32(), df.f32());
    EXPECT_TRUE(all_close(df, dr, 1e-6, 1e-5, what + " avg backward"));
    const int64_t planes = g.N * g.C, hw = g.H * g.W;
    Tensor gr = Tensor::empty({g.N, g.C}), gf = Tensor::empty({g.N, g.C});
    cpu::global_avg_pool_ref(x.f32(), gr.f32(), planes, hw);
    cpu::global_avg_pool_fast(x.f32(), gf.f32(), planes, hw);
    EXPECT_TRUE(all_close(gf, gr, 1e-6, 1e-5, what + " global"));
  }
}

TEST(OpsPool, Gradcheck) {
  Rng rng(32);
  Tensor x = distinct({2, 2, 5, 6}, rng);
  for (auto [k, s, p] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{{2, 2, 0}, {3, 2, 1}, {3, 1, 1}}) {
    auto mp = [k = k, s = s, p = p](const std::vector<Tensor>& in) { return max_pool2d(in[0], k, s, p); };
    auto ap = [k = k, s = s, p = p](const std::vector<Tensor>& in) { return avg_pool2d(in[0], k, s, p); };
    EXPECT_TRUE(test::gradcheck(mp, {x}));
    EXPECT_TRUE(test::gradcheck(ap, {x}));
  }
  auto gp = [](const std::vector<Tensor>& in) { return global_avg_pool(in[0]); };
  EXPECT_TRUE(test::gradcheck(gp, {x}));
}

// Double backward: the pooling ops' backwards are differentiable in the incoming gradient
// (scatter <-> gather for max, avg_pool2d <-> avg_pool2d_backward for average).
TEST(OpsPool, DoubleBackward) {
  Rng rng(33);
  Tensor x = distinct({2, 2, 5, 5}, rng);
  auto mp = [](const std::vector<Tensor>& in) { return tanh(max_pool2d(in[0], 3, 2, 1)); };
  auto ap = [](const std::vector<Tensor>& in) { return tanh(avg_pool2d(in[0], 2, 1, 1)); };
  auto gp = [](const std::vector<Tensor>& in) { return tanh(global_avg_pool(in[0])); };
  EXPECT_TRUE(test::gradgradcheck(mp, {x}));
  EXPECT_TRUE(test::gradgradcheck(ap, {x}));
  EXPECT_TRUE(test::gradgradcheck(gp, {x}));
  // The backward ops themselves, in their gradient argument.
  // Not a structured binding: clang 14 cannot capture those in the lambdas below (C++20).
  auto pooled = max_pool2d_with_indices(x, 3, 2, 1);
  const Tensor y = std::get<0>(pooled), idx = std::get<1>(pooled);
  Tensor g = test::uniform_tensor(y.shape(), rng);
  auto mb = [&](const std::vector<Tensor>& in) { return max_pool2d_backward(in[0], idx, x.shape()); };
  auto ab = [&](const std::vector<Tensor>& in) { return avg_pool2d_backward(in[0], x.shape(), 3, 2, 1); };
  EXPECT_TRUE(test::gradcheck(mb, {g}));
  EXPECT_TRUE(test::gradcheck(ab, {g}));
  auto mb2 = [&](const std::vector<Tensor>& in) { return tanh(max_pool2d_backward(in[0], idx, x.shape())); };
  EXPECT_TRUE(test::gradgradcheck(mb2, {g}));
}

TEST(OpsPool, Errors) {
  Tensor x = Tensor::zeros({1, 2, 6, 6});
  EXPECT_TRUE(throws_error([&] { max_pool2d(Tensor::zeros({2, 6, 6}), 2); }, "[N, C, H, W]"));
  EXPECT_TRUE(throws_error([&] { max_pool2d(x, 3, 1, 2); }, "half the kernel"));
  EXPECT_TRUE(throws_error([&] { avg_pool2d(x, 0); }, "kernel size 0"));
  EXPECT_TRUE(throws_error([&] { avg_pool2d(x, 2, -1); }, "stride"));
  EXPECT_TRUE(throws_error([&] { max_pool2d(x, 7); }, "larger than the padded input"));
  EXPECT_TRUE(throws_error([&] { max_pool2d(Tensor::zeros({1, 2, 6, 6}, DType::I64), 2); }, "float32"));
  EXPECT_TRUE(throws_error([&] { global_avg_pool(Tensor::zeros({2, 3})); }, "[N, C, H, W]"));
  Tensor bad = Tensor::from_vector_i64({0, 1, 2, 36}, {1, 1, 2, 2});
  EXPECT_TRUE(throws_error([&] { max_pool2d_backward(Tensor::zeros({1, 1, 2, 2}), bad, {1, 1, 6, 6}); },
                           "outside the 6x6"));
  EXPECT_TRUE(throws_error([&] { avg_pool2d_backward(Tensor::zeros({1, 2, 2, 2}), x.shape(), 2); },
                           "does not match"));
}

}  // namespace
}  // namespace signet
