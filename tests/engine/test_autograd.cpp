// Autograd: backward, accumulation, fan-out, grad mode, the functional grad(), errors, deep
// graphs, create_graph (double backward) and a small MLP-like composite.
#include <gtest/gtest.h>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "tests/engine/gradcheck.h"

namespace signet {
namespace {

using test::all_close;
using test::throws_error;

Tensor leaf(std::vector<float> v, Shape s) {
  Tensor t = Tensor::from_vector(v, s);
  t.set_requires_grad(true);
  return t;
}

TEST(Autograd, SimpleBackward) {
  Tensor x = leaf({1, -2, 3}, {3});
  Tensor y = sum(mul(x, x));
  EXPECT_EQ(y.dim(), 0);
  EXPECT_TRUE(y.requires_grad());
  EXPECT_FALSE(y.is_leaf());
  ASSERT_TRUE(y.grad_fn());
  EXPECT_EQ(y.grad_fn()->name, "sum");
  y.backward();
  EXPECT_TRUE(all_close(x.grad(), std::vector<float>{2, -4, 6}));
  EXPECT_FALSE(x.grad().requires_grad());  // no history without create_graph
}

TEST(Autograd, AccumulatesAcrossBackwardCalls) {
  Tensor x = leaf({1, 2}, {2});
  sum(mul_scalar(x, 3.0f)).backward();
  sum(mul(x, x)).backward();
  EXPECT_TRUE(all_close(x.grad(), std::vector<float>{3 + 2, 3 + 4}));
  x.zero_grad();
  sum(x).backward();
  EXPECT_TRUE(all_close(x.grad(), std::vector<float>{1, 1}));
}

TEST(Autograd, FanOut) {
  // y = x*x + x + exp(x), x used four times
  Tensor x = leaf({0.5f, -1.0f}, {2});
  Tensor y = sum(add(add(mul(x, x), x), exp(x)));
  y.backward();
  std::vector<float> want;
  for (float v : {0.5f, -1.0f}) want.push_back(2 * v + 1 + std::exp(v));
  EXPECT_TRUE(all_close(x.grad(), want));
  // diamond: two paths through one intermediate
  Tensor a = leaf({2}, {1});
  Tensor h = mul_scalar(a, 3.0f);
  Tensor z = sum(mul(h, add_scalar(h, 1.0f)));  // 3a (3a + 1) -> d/da = 18a + 3
  z.backward();
  EXPECT_TRUE(all_close(a.grad(), std::vector<float>{39}));
}

TEST(Autograd, NoGradGuardRecordsNothing) {
  Tensor x = leaf({1, 2}, {2});
  EXPECT_TRUE(grad_mode_enabled());
  {
    NoGradGuard ng;
    EXPECT_FALSE(grad_mode_enabled());
    Tensor y = mul(x, x);
    EXPECT_FALSE(y.requires_grad());
    EXPECT_FALSE(y.grad_fn());
    EXPECT_FALSE(needs_grad({x}));
    {
      GradModeGuard on(true);
      EXPECT_TRUE(mul(x, x).requires_grad());
    }
    EXPECT_FALSE(grad_mode_enabled());
  }
  EXPECT_TRUE(grad_mode_enabled());
  EXPECT_TRUE(needs_grad({x}));
  EXPECT_FALSE(needs_grad({Tensor::ones({1}), Tensor()}));
  EXPECT_FALSE(mul(Tensor::ones({2}), Tensor::ones({2})).requires_grad());
}

TEST(Autograd, FunctionalGradDoesNotTouchDotGrad) {
  Tensor x = leaf({1, 2}, {2});
  Tensor w = leaf({3, 4}, {2});
  Tensor unused = leaf({5, 6, 7}, {3});
  Tensor h = mul(x, w);
  Tensor y = sum(mul(h, h));  // sum (x w)^2
  std::vector<Tensor> g = grad(y, {x, unused, h});
  ASSERT_EQ(g.size(), 3u);
  EXPECT_TRUE(all_close(g[0], std::vector<float>{2 * 1 * 9, 2 * 2 * 16}));
  EXPECT_TRUE(all_close(g[1], std::vector<float>{0, 0, 0}));
  EXPECT_TRUE(all_close(g[2], std::vector<float>{2 * 3, 2 * 8}));  // w.r.t. an intermediate
  EXPECT_FALSE(x.grad().defined());
  EXPECT_FALSE(w.grad().defined());
  EXPECT_FALSE(unused.grad().defined());
  // the root itself as an input
  std::vector<Tensor> gr = grad(y, {y});
  EXPECT_FLOAT_EQ(gr[0].item(), 1.0f);
  // grad_output scales the result
  std::vector<Tensor> g2 = grad(h, {x}, Tensor::from_vector({1, -1}, {2}));
  EXPECT_TRUE(all_close(g2[0], std::vector<float>{3, -4}));
}

TEST(Autograd, BackwardErrors) {
  Tensor x = leaf({1, 2}, {2});
  Tensor y = mul(x, x);
  EXPECT_TRUE(throws_error([&] { y.backward(); }, "non-scalar"));
  EXPECT_TRUE(throws_error([&] { y.backward(Tensor::ones({3})); }, "gradient shape"));
  EXPECT_TRUE(throws_error([] { sum(Tensor::ones({2})).backward(); }, "does not require"));
  EXPECT_TRUE(throws_error([&] { grad(y, {x}); }, "non-scalar"));
  // an explicit gradient for a non-scalar works
  y.backward(Tensor::from_vector({1, 10}, {2}));
  EXPECT_TRUE(all_close(x.grad(), std::vector<float>{2, 40}));
}

TEST(Autograd, LeafRootAndDetach) {
  Tensor x = leaf({1, 2}, {2});
  x.backward(Tensor::from_vector({3, 4}, {2}));
  EXPECT_TRUE(all_close(x.grad(), std::vector<float>{3, 4}));
  x.zero_grad();
  // detach cuts the graph: only the direct path contributes
  Tensor y = sum(mul(x, x.detach()));
  y.backward();
  EXPECT_TRUE(all_close(x.grad(), std::vector<float>{1, 2}));
  // a constant input gets no gradient
  Tensor c = Tensor::from_vector({5, 5}, {2});
  sum(mul(x, c)).backward();
  EXPECT_FALSE(c.grad().defined());
}

TEST(Autograd, DeepChainDoesNotOverflowStack) {
  Tensor x = leaf({1.0f}, {1});
  Tensor y = x;
  const int n = 20000;
  for (int i = 0; i < n; ++i) y = add_scalar(y, 0.5f);
  EXPECT_FLOAT_EQ(y.item(), 1.0f + 0.5f * n);
  y.backward();
  EXPECT_FLOAT_EQ(x.grad().item(), 1.0f);
  std::vector<Tensor> g = grad(y, {x});
  EXPECT_FLOAT_EQ(g[0].item(), 1.0f);
  y = Tensor();  // releasing the 20,000-node graph must not overflow either
  // two-input adds (x used at every step): gradient n + 1
  Tensor z = x;
  for (int i = 0; i < n; ++i) z = add(z, x);
  std::vector<Tensor> gz = grad(z, {x});
  EXPECT_FLOAT_EQ(gz[0].item(), static_cast<float>(n + 1));
}

TEST(Autograd, CreateGraphSecondDerivative) {
  Tensor x = leaf({2, -1}, {2});
  Tensor y = sum(mul(mul(x, x), x));  // sum x^3
  std::vector<Tensor> g = grad(y, {x}, Tensor(), /*create_graph=*/true);
  EXPECT_TRUE(g[0].requires_grad());
  EXPECT_TRUE(all_close(g[0], std::vector<float>{12, 3}));
  std::vector<Tensor> gg = grad(sum(g[0]), {x});
  EXPECT_TRUE(all_close(gg[0], std::vector<float>{12, -6}));  // 6x

  // backward(create_graph) stores a gradient with history
  Tensor z = leaf({3}, {1});
  sum(mul(z, z)).backward(Tensor(), true);
  EXPECT_TRUE(z.grad().requires_grad());
  Tensor gz = z.grad();
  z.zero_grad();
  sum(gz).backward();
  EXPECT_TRUE(all_close(z.grad(), std::vector<float>{2}));
}

TEST(Autograd, SecondOrderThroughTwoInputs) {
  // f = sum(a * b^2): d/da = b^2, d/db (sum(d/da)) = 2b
  Tensor a = leaf({1, 2}, {2}), b = leaf({3, -4}, {2});
  Tensor f = sum(mul(a, mul(b, b)));
  std::vector<Tensor> g = grad(f, {a, b}, Tensor(), true);
  std::vector<Tensor> gg = grad(sum(g[0]), {a, b});
  EXPECT_TRUE(all_close(gg[0], std::vector<float>{0, 0}));
  EXPECT_TRUE(all_close(gg[1], std::vector<float>{6, -8}));
}

TEST(Autograd, MlpCompositeGradcheck) {
  Rng rng(11);
  Tensor x = test::uniform_tensor({4, 5}, rng);
  Tensor W = test::uniform_tensor({6, 5}, rng);
  Tensor b = test::uniform_tensor({6}, rng, -0.5f, 0.5f);
  auto f = [](const std::vector<Tensor>& in) {
    Tensor h = relu(add(matmul(in[0], transpose(in[1], 0, 1)), in[2]));
    return sum(mul(h, h));
  };
  // keep the pre-activations away from relu's kink at the perturbation scale
  {
    NoGradGuard ng;
    Tensor pre = linear(x, W, b);
    float closest = 1e9f;
    for (float v : pre.to_vector()) closest = std::min(closest, std::fabs(v));
    ASSERT_GT(closest, 0.05f) << "pick another seed";
  }
  test::GradCheckOptions o;
  o.eps = 1e-3;
  EXPECT_TRUE(test::gradcheck(f, {x, W, b}, o));
  o.check = {true, false, false};  // second order w.r.t. x
  EXPECT_TRUE(test::gradgradcheck(f, {x, W, b}, o));
  o.check = {true, true, true};
  EXPECT_TRUE(test::gradgradcheck(f, {x, W, b}, o));
  // the same network through linear and a tanh head
  auto g = [](const std::vector<Tensor>& in) {
    return mean(tanh(linear(relu(linear(in[0], in[1], in[2])), transpose(in[1], 0, 1))));
  };
  EXPECT_TRUE(test::gradgradcheck(g, {x, W, b}, o));
}

TEST(Autograd, GradcheckDetectsAWrongGradient) {
  // a deliberately wrong backward must fail the checker (guards against a vacuous helper)
  auto bad = [](const std::vector<Tensor>& in) {
    Tensor out = mul(in[0], in[0]);
    if (needs_grad({in[0]})) {
      Tensor x = in[0];
      record(out, "bad_square", {x}, [x](const Tensor& g) { return std::vector<Tensor>{mul(g, x)}; });
    }
    return out;
  };
  Rng rng(3);
  EXPECT_FALSE(test::gradcheck(bad, {test::uniform_tensor({5}, rng, 0.5f, 1.0f)}));
  auto good = [](const std::vector<Tensor>& in) { return mul(in[0], in[0]); };
  EXPECT_TRUE(test::gradcheck(good, {test::uniform_tensor({5}, rng, 0.5f, 1.0f)}));
}

TEST(Autograd, GradgradcheckDetectsAMissingSecondOrderTerm) {
  // exp whose backward reuses the saved (detached) output: first order right, second wrong
  auto stale = [](const std::vector<Tensor>& in) {
    Tensor out = exp(in[0]);
    if (needs_grad({in[0]})) {
      record(out, "stale_exp", {in[0]}, [y = out.detach()](const Tensor& g) {
        return std::vector<Tensor>{mul(g, y)};
      });
    }
    return out;
  };
  Rng rng(4);
  Tensor x = test::uniform_tensor({4}, rng);
  EXPECT_TRUE(test::gradcheck(stale, {x}));
  EXPECT_FALSE(test::gradgradcheck(stale, {x}));
  EXPECT_TRUE(test::gradgradcheck([](const auto& v) { return exp(v[0]); }, {x}));
}

}  // namespace
}  // namespace signet
