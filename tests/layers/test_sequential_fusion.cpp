// Sequential runs BatchNorm->ReLU as one op and ReLU->MaxPool2d as pool-then-ReLU: the same
// outputs, gradients and taps as the modules one by one.
#include <gtest/gtest.h>

#include "engine/ops.h"
#include "layers/conv_layers.h"
#include "layers/layers.h"
#include "tests/engine/gradcheck.h"

namespace signet {
namespace {

using test::all_close;

struct Net {
  std::shared_ptr<Sequential> seq = std::make_shared<Sequential>();
  std::shared_ptr<Conv2d> conv;
  std::shared_ptr<BatchNorm2d> bn;
  explicit Net(Rng& rng) {
    conv = std::make_shared<Conv2d>(3, 4, 3, 1, 1, true, rng);
    bn = std::make_shared<BatchNorm2d>(4);
    seq->add("conv", conv).add("relu0", std::make_shared<ReLU>()).add("pool0", std::make_shared<MaxPool2d>(2));
    seq->add("bn", bn).add("relu1", std::make_shared<ReLU>()).add("pool1", std::make_shared<MaxPool2d>(3, 2, 1));
    seq->assign_paths();
    bn->weight().copy_(test::uniform_tensor({4}, rng));
    bn->bias().copy_(test::uniform_tensor({4}, rng));
  }
  // The same layers one by one, through the ops.
  Tensor by_hand(const Tensor& x, Tensor* relu0 = nullptr) {
    Tensor r0 = relu(conv2d(x, conv->weight(), conv->named_parameters().at(1).second, 1, 1, 1, 1));
    if (relu0) *relu0 = r0;
    Tensor p0 = max_pool2d(r0, 2, 2, 0);
    Tensor r1 = relu(batch_norm(p0, bn->weight(), bn->bias(), Tensor(), Tensor(), true));
    return max_pool2d(r1, 3, 2, 1);
  }
};

TEST(SequentialFusion, SameOutputsGradientsAndTaps) {
  Rng rng(61);
  Net net(rng);
  const Tensor x = test::uniform_tensor({2, 3, 8, 8}, rng, -1, 1);
  const Tensor R = test::uniform_tensor({2, 4, 2, 2}, rng);
  std::vector<Tensor> params;
  for (auto& [n, p] : net.seq->named_parameters()) params.push_back(p);
  const Tensor want = net.by_hand(x);
  const std::vector<Tensor> gwant = grad(want, params, R, false);
  // no taps; the pool's tap; relu0's tap (then relu0 and pool0 run as written)
  for (const char* tap : {"", "pool0", "relu0", "bn"}) {
    Taps taps;
    if (*tap) taps.wanted = {tap};
    const Tensor got = (*net.seq)(x, &taps);
    EXPECT_TRUE(all_close(got, want, 0, 0, std::string("output, tap ") + tap));
    const std::vector<Tensor> g = grad(got, params, R, false);
    for (size_t i = 0; i < g.size(); ++i)
      EXPECT_TRUE(all_close(g[i], gwant[i], 1e-6, 1e-5, std::string("gradient ") + std::to_string(i) + ", tap " + tap));
    if (!*tap) continue;
    Tensor r0;
    net.by_hand(x, &r0);
    if (std::string(tap) == "relu0") EXPECT_TRUE(all_close(taps.require("relu0"), r0, 0, 0, "relu0 tap"));
    if (std::string(tap) == "pool0") EXPECT_TRUE(all_close(taps.require("pool0"), max_pool2d(r0, 2, 2, 0), 0, 0, "pool0 tap"));
    if (std::string(tap) == "bn") EXPECT_EQ(taps.require("bn").shape(), (Shape{2, 4, 4, 4}));
  }
}

}  // namespace
}  // namespace signet
