// Conv2d, MaxPool2d, AvgPool2d, GlobalAvgPool, BatchNorm1d/2d as Modules: PyTorch names and
// init, buffers and their updates, train/eval, errors that name the layer, a small CNN end to end.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/ops.h"
#include "layers/conv_layers.h"
#include "layers/layers.h"
#include "tests/engine/gradcheck.h"

namespace signet {
namespace {

using test::all_close;
using test::throws_error;

TEST(ConvLayers, Conv2dNamesShapesAndPyTorchInit) {
  Rng rng(1);
  Conv2d c(16, 32, 3, 1, 1, true, rng);
  auto p = c.named_parameters();
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].first, "weight");
  EXPECT_EQ(p[0].second.shape(), (Shape{32, 16, 3, 3}));
  EXPECT_EQ(p[1].first, "bias");
  EXPECT_EQ(p[1].second.shape(), (Shape{32}));
  const float bound = 1.0f / std::sqrt(16.0f * 9);  // kaiming_uniform(a = sqrt(5)) = 1 / sqrt(fan_in)
  for (auto& [n, t] : p) {
    float lo = 0, hi = 0;
    for (float v : t.to_vector()) {
      EXPECT_LE(std::abs(v), bound) << n;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    EXPECT_LT(lo, -0.8f * bound) << n;  // the whole range is used
    EXPECT_GT(hi, 0.8f * bound) << n;
    EXPECT_TRUE(t.requires_grad());
  }
  Rng rng2(1);
  Conv2d same(16, 32, 3, 1, 1, true, rng2);
  EXPECT_TRUE(all_close(same.weight(), c.weight(), 0, 0, "same seed"));
  Conv2d nob(3, 4, 5, 2, 2, false, rng);
  EXPECT_EQ(nob.named_parameters().size(), 1u);
  Conv2d short_form(3, 4, 3, rng);
  EXPECT_EQ(short_form.stride(), 1);
  EXPECT_EQ(short_form.padding(), 0);
  EXPECT_EQ(short_form.named_parameters().size(), 2u);
}

TEST(ConvLayers, Conv2dForwardIsTheOp) {
  Rng rng(2);
  Conv2d c(3, 5, 3, 2, 1, true, rng);
  Tensor x = test::uniform_tensor({2, 3, 9, 8}, rng);
  Tensor y = c(x);
  EXPECT_EQ(y.shape(), (Shape{2, 5, 5, 4}));
  auto p = c.named_parameters();
  EXPECT_TRUE(all_close(y, conv2d(x, p[0].second, p[1].second, 2, 1), 0, 0));
}

TEST(ConvLayers, Pools) {
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, {1, 1, 4, 4});
  EXPECT_TRUE(all_close(MaxPool2d(2)(x), std::vector<float>{6, 8, 14, 16}));
  EXPECT_TRUE(all_close(AvgPool2d(2)(x), std::vector<float>{3.5f, 5.5f, 11.5f, 13.5f}));
  EXPECT_EQ(MaxPool2d(3, 2, 1)(x).shape(), (Shape{1, 1, 2, 2}));
  EXPECT_EQ(AvgPool2d(3, 1, 1)(x).shape(), (Shape{1, 1, 4, 4}));
  EXPECT_TRUE(all_close(GlobalAvgPool()(x), std::vector<float>{8.5f}));
  EXPECT_EQ(GlobalAvgPool()(Tensor::zeros({3, 7, 2, 5})).shape(), (Shape{3, 7}));
  EXPECT_TRUE(MaxPool2d(2).named_parameters().empty());
  EXPECT_TRUE(throws_error([] { MaxPool2d(2, 2, 2); }, "half the kernel"));
}

TEST(ConvLayers, BatchNormStateDictLikePyTorch) {
  BatchNorm2d bn(3);
  auto sd = state_dict(bn);
  ASSERT_EQ(sd.size(), 5u);
  const char* names[] = {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"};
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(sd[i].first, names[i]);
  EXPECT_TRUE(all_close(bn.weight(), std::vector<float>{1, 1, 1}));
  EXPECT_TRUE(all_close(bn.bias(), std::vector<float>{0, 0, 0}));
  EXPECT_TRUE(all_close(bn.running_mean(), std::vector<float>{0, 0, 0}));
  EXPECT_TRUE(all_close(bn.running_var(), std::vector<float>{1, 1, 1}));
  EXPECT_EQ(bn.num_batches_tracked().dtype(), DType::I64);
  EXPECT_EQ(bn.num_batches_tracked().shape(), Shape{});
  EXPECT_EQ(bn.num_batches_tracked().i64()[0], 0);
  EXPECT_EQ(bn.named_parameters().size(), 2u);
  EXPECT_FALSE(bn.running_mean().requires_grad());
}

TEST(ConvLayers, BatchNormTrainingUpdatesAndEvalUsesRunningStats) {
  BatchNorm1d bn(2);
  Tensor x = Tensor::from_vector({1, 2, 2, 4, 3, 6, 4, 8}, {4, 2});
  Tensor y = bn(x);
  EXPECT_EQ(bn.num_batches_tracked().i64()[0], 1);
  EXPECT_TRUE(all_close(bn.running_mean(), std::vector<float>{0.25f, 0.5f}, 1e-6, 1e-6));
  EXPECT_TRUE(all_close(bn.running_var(), std::vector<float>{0.9f + 0.5f / 3, 0.9f + 2 / 3.f}, 1e-6, 1e-6));
  // training output: normalised with the batch statistics (mean 0, biased variance ~1 per channel)
  EXPECT_TRUE(all_close(mean(y, {0}), std::vector<float>{0, 0}, 1e-6, 0));
  EXPECT_TRUE(all_close(mean(y * y, {0}), std::vector<float>{1, 1}, 1e-4, 0));
  bn(x);
  EXPECT_EQ(bn.num_batches_tracked().i64()[0], 2);
  bn.eval();
  const std::vector<float> rm = bn.running_mean().to_vector(), rv = bn.running_var().to_vector();
  Tensor ye = bn(x);
  EXPECT_EQ(bn.num_batches_tracked().i64()[0], 2);  // eval does not count
  EXPECT_TRUE(all_close(bn.running_mean(), rm, 0, 0, "eval leaves running_mean"));
  std::vector<float> want;
  const std::vector<float> xv = x.to_vector();
  for (size_t i = 0; i < xv.size(); ++i) want.push_back((xv[i] - rm[i % 2]) / std::sqrt(rv[i % 2] + 1e-5f));
  EXPECT_TRUE(all_close(ye, want, 1e-5, 1e-5, "eval output"));
  // a single sample works in eval mode; in training mode it is an error
  EXPECT_EQ(bn(Tensor::ones({1, 2})).shape(), (Shape{1, 2}));
  bn.train();
  EXPECT_TRUE(throws_error([&] { bn(Tensor::ones({1, 2})); }, "more than 1 value per channel"));
  EXPECT_EQ(bn.num_batches_tracked().i64()[0], 2);
  // BatchNorm1d also takes [N, C, L]
  Rng rng(3);
  EXPECT_EQ(bn(test::uniform_tensor({3, 2, 5}, rng)).shape(), (Shape{3, 2, 5}));
}

TEST(ConvLayers, ErrorsNameTheLayer) {
  Rng rng(4);
  Sequential net;
  net.add("conv", std::make_shared<Conv2d>(3, 8, 3, 1, 1, true, rng));
  net.add("bn", std::make_shared<BatchNorm2d>(8));
  net.add("pool", std::make_shared<MaxPool2d>(2));
  net.add("gap", std::make_shared<GlobalAvgPool>());
  net.assign_paths();
  EXPECT_TRUE(throws_error([&] { net(Tensor::zeros({2, 4, 8, 8})); }, "conv (Conv2d): expected input [N, 3, H, W]"));
  EXPECT_TRUE(throws_error([&] { net(Tensor::zeros({2, 3, 8})); }, "conv (Conv2d)"));
  EXPECT_TRUE(throws_error([&] { net(Tensor::zeros({2, 3, 1, 1})); }, "pool (MaxPool2d)"));
  BatchNorm2d bn(4);
  EXPECT_TRUE(throws_error([&] { bn(Tensor::zeros({2, 4})); }, "BatchNorm2d: expected a 4-d input with 4 channels"));
  EXPECT_TRUE(throws_error([&] { BatchNorm1d(3)(Tensor::zeros({2, 4})); }, "2-d or 3-d input with 3 channels"));
  EXPECT_TRUE(throws_error([&] { Conv2d(0, 3, 3, rng); }, "positive"));
  EXPECT_TRUE(throws_error([&] { Conv2d(3, 3, 3, 0, 0, true, rng); }, "stride"));
}

// conv -> bn -> relu -> maxpool -> conv -> gap -> linear: every parameter gets a gradient, the
// input gradient matches finite differences, and the state dict (with BN buffers) loads back.
TEST(ConvLayers, SmallCnnEndToEnd) {
  Rng rng(5);
  auto build = [](Rng& r) {
    auto net = std::make_shared<Sequential>();
    net->add("0", std::make_shared<Conv2d>(2, 4, 3, 1, 1, true, r));
    net->add("1", std::make_shared<BatchNorm2d>(4));
    net->add("2", std::make_shared<ReLU>());
    net->add("3", std::make_shared<MaxPool2d>(2));
    net->add("4", std::make_shared<Conv2d>(4, 3, 3, 2, 1, false, r));
    net->add("5", std::make_shared<GlobalAvgPool>());
    net->add("6", std::make_shared<Linear>(3, 2, true, r));
    net->assign_paths();
    return net;
  };
  auto net = build(rng);
  Tensor x = test::uniform_tensor({3, 2, 6, 6}, rng);
  Tensor y = (*net)(x);
  EXPECT_EQ(y.shape(), (Shape{3, 2}));
  sum(y * y).backward();
  for (auto& [n, p] : net->named_parameters()) EXPECT_TRUE(p.grad().defined()) << n;
  {
    Rng r2(6);
    auto fnet = build(r2);
    fnet->eval();  // fixed running statistics: a deterministic function of the input
    test::GradCheckOptions o;
    o.eps = 1e-3;
    auto f = [&](const std::vector<Tensor>& in) { return (*fnet)(in[0]); };
    EXPECT_TRUE(test::gradcheck(f, {x}, o));
  }
  auto sd = state_dict(*net);
  EXPECT_EQ(sd[0].first, "0.weight");
  bool has_nbt = false;
  for (auto& [n, t] : sd) has_nbt = has_nbt || n == "1.num_batches_tracked";
  EXPECT_TRUE(has_nbt);
  Rng other(99);
  auto net2 = build(other);
  load_state_dict(*net2, sd, "test");
  net->eval();
  net2->eval();
  EXPECT_TRUE(all_close((*net2)(x), (*net)(x), 0, 0, "reloaded"));
  EXPECT_EQ(net2->named_buffers()[2].second.i64()[0], 1);
}

}  // namespace
}  // namespace signet
