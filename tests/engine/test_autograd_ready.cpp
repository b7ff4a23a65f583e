// run_backward_reporting (engine/autograd_ready.h): each leaf is reported once, when its
// gradient is final, last layers first, and the gradients are run_backward's exactly.
#include <gtest/gtest.h>

#include <map>

#include "engine/autograd.h"
#include "engine/autograd_ready.h"
#include "engine/ops.h"

namespace signet {
namespace {

Tensor leaf(std::vector<float> v, Shape s) {
  Tensor t = Tensor::from_vector(v, s);
  t.set_requires_grad(true);
  return t;
}

// A two-layer net whose first weight is also used by a penalty term added at the end, so its
// gradient comes from two nodes far apart in the walk.
Tensor two_layer_loss(const Tensor& w1, const Tensor& w2, const Tensor& unused) {
  (void)unused;
  const Tensor x = Tensor::from_vector({1, -2, 0.5f, 3, 1, -1}, {2, 3});
  const Tensor h = relu(matmul(x, w1));
  return add(sum(matmul(h, w2)), sum(mul(w1, w1)));
}

TEST(AutogradReady, EachLeafOnceWithItsFinalGradientLastLayerFirst) {
  Tensor w1 = leaf({0.1f, -0.2f, 0.3f, 0.4f, -0.5f, 0.6f}, {3, 2});
  Tensor w2 = leaf({0.7f, -0.8f}, {2, 1});
  Tensor unused = leaf({1, 2}, {2});
  std::vector<const TensorImpl*> order;
  std::map<const TensorImpl*, std::vector<float>> at_report;
  run_backward_reporting(two_layer_loss(w1, w2, unused), [&](const Tensor& t) {
    order.push_back(t.impl());
    at_report[t.impl()] = t.grad().to_vector();
  });
  ASSERT_EQ(order.size(), 2u);  // the unused leaf is not in the graph: never reported
  EXPECT_EQ(order[0], w2.impl());
  EXPECT_EQ(order[1], w1.impl());
  // What each report saw is what the leaf ends with, and what a plain backward gives.
  EXPECT_EQ(at_report[w1.impl()], w1.grad().to_vector());
  EXPECT_EQ(at_report[w2.impl()], w2.grad().to_vector());
  Tensor v1 = leaf(w1.detach().to_vector(), {3, 2}), v2 = leaf(w2.detach().to_vector(), {2, 1});
  two_layer_loss(v1, v2, unused).backward();
  EXPECT_EQ(v1.grad().to_vector(), w1.grad().to_vector());
  EXPECT_EQ(v2.grad().to_vector(), w2.grad().to_vector());
  EXPECT_FALSE(unused.grad().defined());
}

TEST(AutogradReady, AccumulatesLikeBackwardAndReportsALeafRoot) {
  Tensor x = leaf({1, 2}, {2});
  sum(mul_scalar(x, 3.0f)).backward();
  int reports = 0;
  run_backward_reporting(sum(mul(x, x)), [&](const Tensor& t) {
    ++reports;
    EXPECT_EQ(t.grad().to_vector(), (std::vector<float>{3 + 2, 3 + 4}));
  });
  EXPECT_EQ(reports, 1);
  Tensor s = leaf({5}, {});
  run_backward_reporting(s, [&](const Tensor& t) {
    ++reports;
    EXPECT_EQ(t.impl(), s.impl());
  });
  EXPECT_EQ(reports, 2);
  EXPECT_EQ(s.grad().to_vector(), std::vector<float>{1});
}

}  // namespace
}  // namespace signet
