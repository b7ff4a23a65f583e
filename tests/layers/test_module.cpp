#include <gtest/gtest.h>

#include <cmath>

#include "engine/ops.h"
#include "layers/layers.h"
#include "layers/optim.h"
#include "models/registry.h"

using namespace signet;

TEST(Module, NamesParametersLikePyTorch) {
  Rng rng(1);
  Model m = build_model("mnist-mlp", ModelConfig{}, rng);
  auto params = m.net->named_parameters();
  ASSERT_EQ(params.size(), 6u);
  EXPECT_EQ(params[0].first, "fc1.weight");
  EXPECT_EQ(params[0].second.shape(), (Shape{512, 784}));
  EXPECT_EQ(params[5].first, "fc3.bias");
  for (auto& [n, p] : params) EXPECT_TRUE(p.requires_grad()) << n;
}

TEST(Module, LinearInitIsUniformWithinPyTorchBound) {
  Rng rng(2);
  Linear l(100, 50, true, rng);
  const float bound = 0.1f;
  for (float v : l.weight().to_vector()) {
    EXPECT_LE(std::abs(v), bound);
  }
}

TEST(Module, TapsReturnNamedActivationsInTheGraph) {
  Rng rng(3);
  Model m = build_model("mnist-mlp", ModelConfig{}, rng);
  Tensor x = Tensor::full({4, 1, 28, 28}, 0.5f);
  Taps taps;
  taps.wanted = {"relu2", "fc1"};
  Tensor logits = m(x, &taps);
  EXPECT_EQ(taps.require("relu2").shape(), (Shape{4, 512}));
  EXPECT_EQ(taps.require("fc1").shape(), (Shape{4, 512}));
  for (float v : taps.require("relu2").to_vector()) EXPECT_GE(v, 0.0f);
  // The tapped activation is part of the graph: a loss on it reaches fc1's weights.
  Tensor loss = sum(taps.require("relu2"));
  loss.backward();
  EXPECT_TRUE(m.net->named_parameters()[0].second.grad().defined());
  try {
    taps.require("nope");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("relu2"), std::string::npos) << e.what();
  }
}

TEST(Module, TrainEvalPropagatesAndDropoutOnlyInTraining) {
  Rng rng(4);
  ModelConfig c;
  c.dropout = 0.5f;
  Model m = build_model("mnist-mlp", c, rng);
  m.net->set_rng(std::make_shared<Rng>(9));
  Tensor x = Tensor::full({2, 1, 28, 28}, 1.0f);
  m.net->eval();
  const auto a = m(x).to_vector(), b = m(x).to_vector();
  EXPECT_EQ(a, b);
  m.net->train();
  EXPECT_TRUE(m.net->is_training());
  EXPECT_NE(m(x).to_vector(), m(x).to_vector());
}

TEST(Module, LoadStateDictChecksNamesAndShapes) {
  Rng rng(5);
  Model m = build_model("mnist-mlp", ModelConfig{}, rng);
  NamedTensorList state = state_dict(*m.net);
  state[0].second = Tensor::zeros({3, 3});
  try {
    load_state_dict(*m.net, state, "bad.safetensors");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("fc1.weight"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("bad.safetensors"), std::string::npos);
  }
  state = state_dict(*m.net);
  state.pop_back();
  EXPECT_THROW(load_state_dict(*m.net, state, "x"), Error);
  state = state_dict(*m.net);
  state.emplace_back("extra", Tensor::zeros({1}));
  EXPECT_THROW(load_state_dict(*m.net, state, "x"), Error);
  EXPECT_NO_THROW(load_state_dict(*m.net, state, "x", /*allow_extra=*/true));
}

TEST(Module, UnknownModelNameListsKnownOnes) {
  Rng rng(0);
  try {
    build_model("resnet9000", ModelConfig{}, rng);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("mnist-mlp"), std::string::npos) << e.what();
  }
}

TEST(Optim, SgdNesterovAndPlainMatchHandComputedSteps) {
  Tensor p = Tensor::from_vector({1.0f, -2.0f}, {2});
  p.set_requires_grad(true);
  SgdOptions o;
  o.lr = 0.1f; o.momentum = 0.9f; o.nesterov = true;
  SGD opt({{"p", p}}, o);
  for (int s = 0; s < 2; ++s) {
    opt.zero_grad();
    sum(mul(p, p)).backward();  // grad = 2p
    opt.step();
  }
  // step1: g=2p0=(2,-4), buf=g, p1=p0-0.1*(g+0.9buf)=p0-0.19g=(0.62,-1.24)
  // step2: g=(1.24,-2.48), buf=0.9*(2,-4)+g=(3.04,-6.08), p2=p1-0.1*(g+0.9buf)=(0.62-0.1*(1.24+2.736), ...)
  EXPECT_NEAR(p.to_vector()[0], 0.62f - 0.1f * (1.24f + 2.736f), 1e-5);
  EXPECT_NEAR(p.to_vector()[1], -1.24f + 0.1f * (2.48f + 5.472f), 1e-5);
}

TEST(Optim, SchedulesFollowTheirFormulas) {
  LrSchedule c = make_schedule("cosine", 0.1f, 100);
  EXPECT_FLOAT_EQ(c.at(0), 0.1f);
  EXPECT_NEAR(c.at(50), 0.05f, 1e-6);
  EXPECT_NEAR(c.at(100), 0.0f, 1e-7);
  LrSchedule s = make_schedule("step", 0.1f, 100, 30, 0.5f);
  EXPECT_FLOAT_EQ(s.at(29), 0.1f);
  EXPECT_FLOAT_EQ(s.at(30), 0.05f);
  EXPECT_FLOAT_EQ(s.at(60), 0.025f);
  EXPECT_THROW(make_schedule("warp", 0.1f, 10), Error);
  EXPECT_THROW(make_optimizer("rmsprop", {}, 0.1f, 0, 0, false), Error);
}

TEST(Optim, WarmupRampsLinearlyIntoTheSchedule) {
  LrSchedule c = make_schedule("cosine", 0.1f, 100);
  c.warmup_steps = 10;
  EXPECT_NEAR(c.at(0), 0.1f * std::cos(0.0f) * 1 / 10, 1e-7);                    // (0 + 1) / 10 of the rate
  EXPECT_NEAR(c.at(4), 0.1f * 0.5f * (1 + std::cos(M_PI * 0.04)) * 5 / 10, 1e-7);  // the cosine's own rate, scaled
  EXPECT_NEAR(c.at(9), 0.1f * 0.5f * (1 + std::cos(M_PI * 0.09)), 1e-7);          // full rate at the last warm-up step
  EXPECT_NEAR(c.at(50), 0.05f, 1e-6);                                               // untouched after it
  LrSchedule k = make_schedule("constant", 0.2f, 100);
  k.warmup_steps = 4;
  EXPECT_FLOAT_EQ(k.at(1), 0.1f);
  EXPECT_FLOAT_EQ(k.at(4), 0.2f);
}
