#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>

#include "engine/ops.h"
#include "engine/serialize/safetensors.h"
#include "layers/layers.h"
#include "layers/optim.h"
#include "layers/recurrent.h"
#include "tests/engine/gradcheck.h"

using namespace signet;
using namespace signet::test;

TEST(Recurrent, EmbeddingIsNormalInitialisedAndLooksUp) {
  Rng rng(1);
  Embedding e(1000, 32, rng);
  auto params = e.named_parameters();
  ASSERT_EQ(params.size(), 1u);
  EXPECT_EQ(params[0].first, "weight");
  EXPECT_EQ(params[0].second.shape(), (Shape{1000, 32}));
  double s = 0, s2 = 0;
  for (float v : e.weight().to_vector()) s += v, s2 += double(v) * v;
  const double n = 32000, mean = s / n, var = s2 / n - mean * mean;
  EXPECT_NEAR(mean, 0.0, 0.03);
  EXPECT_NEAR(var, 1.0, 0.05);
  const Tensor out = e(Tensor::from_vector_i64({5, 999}, {1, 2}));
  EXPECT_EQ(out.shape(), (Shape{1, 2, 32}));
  EXPECT_TRUE(throws_error([&] { e(Tensor::zeros({2})); }, "int64 token ids"));
  EXPECT_TRUE(throws_error([&] { e(Tensor::from_vector_i64({1000}, {1})); }, "id 1000"));
}

TEST(Recurrent, LstmHasPyTorchNamesShapesAndInit) {
  Rng rng(2);
  LSTM l(32, 100, rng);
  auto params = l.named_parameters();
  ASSERT_EQ(params.size(), 4u);
  const char* names[] = {"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"};
  const Shape shapes[] = {{400, 32}, {400, 100}, {400}, {400}};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(params[i].first, names[i]);
    EXPECT_EQ(params[i].second.shape(), shapes[i]);
    EXPECT_TRUE(params[i].second.requires_grad());
    float worst = 0;
    for (float v : params[i].second.to_vector()) worst = std::max(worst, std::fabs(v));
    EXPECT_LE(worst, 0.1f) << names[i];
    EXPECT_GT(worst, 0.09f) << names[i];  // uniform over the whole range
  }
  EXPECT_TRUE(throws_error([&] { l(Tensor::zeros({2, 3, 31})); }, "expected input [batch, time, 32]"));
}

TEST(Recurrent, ReturnLastAndLastStepGiveTheFinalHiddenState) {
  Rng rng(3);
  LSTM full(4, 5, rng);
  Rng rng2(3);
  LSTM last(4, 5, rng2, /*return_last=*/true);
  const Tensor x = uniform_tensor({2, 6, 4}, rng);
  const Tensor out = full(x);
  EXPECT_EQ(out.shape(), (Shape{2, 6, 5}));
  LastStep step;
  const Tensor h = step(out);
  EXPECT_EQ(h.shape(), (Shape{2, 5}));
  EXPECT_TRUE(all_close(last(x), h, 0, 0, "return_last vs LastStep"));
  EXPECT_TRUE(all_close(full.forward_full(x).h_n, h, 0, 0, "h_n"));
  // LastStep's gradient reaches only the last step.
  auto f = [&](const std::vector<Tensor>& v) { return step(v[0]); };
  EXPECT_TRUE(gradcheck(f, {uniform_tensor({2, 3, 4}, rng)}));
  EXPECT_TRUE(throws_error([&] { step(Tensor::zeros({2, 3})); }, "[batch, time, features]"));
}

// The PyTorch state dict of make_lstm.py loads by name; the forward matches PyTorch's.
TEST(Recurrent, LoadsPyTorchStateDictAndMatchesIt) {
  const NamedTensors g = load_safetensors(std::string(SIGNET_SOURCE_DIR) + "/tests/golden/lstm_golden.safetensors");
  Rng rng(4);
  Sequential net("Front");
  net.add("embedding", std::make_shared<Embedding>(20, 6, rng));
  net.add("lstm", std::make_shared<LSTM>(6, 5, rng));
  net.assign_paths();
  NamedTensorList state;
  for (const auto& [n, t] : g.tensors)
    if (n.rfind("embedding.", 0) == 0 || n.rfind("lstm.", 0) == 0) state.emplace_back(n, t);
  load_state_dict(net, state, "lstm_golden.safetensors");
  const Tensor out = net(g.at("ids"));
  EXPECT_TRUE(all_close(out, g.at("zero.output"), 1e-6, 1e-4, "output"));
  sum(out * g.at("r_out")).backward();  // the zero-state loss without its h_n, c_n terms
  EXPECT_TRUE(net.named_parameters()[0].second.grad().defined());
}

// A tiny IMDB-shaped model learns a task that needs memory: is token 1 anywhere in the
// sequence (not only at the end)?
TEST(Recurrent, TinyImdbModelLearns) {
  Rng rng(5);
  Sequential net("TinyImdb");
  net.add("embedding", std::make_shared<Embedding>(8, 6, rng));
  net.add("lstm", std::make_shared<LSTM>(6, 12, rng, /*return_last=*/true));
  net.add("fc", std::make_shared<Linear>(12, 1, true, rng));
  net.assign_paths();
  const int64_t B = 32, T = 10;
  Tensor ids = Tensor::empty({B, T}, DType::I64), y = Tensor::empty({B, 1});
  for (int64_t b = 0; b < B; ++b) {
    const bool pos = b % 2 == 0;
    for (int64_t t = 0; t < T; ++t) ids.i64()[b * T + t] = 2 + static_cast<int64_t>(rng.below(6));
    if (pos) ids.i64()[b * T + rng.below(T - 2)] = 1;
    y.f32()[b] = pos ? 1.0f : 0.0f;
  }
  AdamOptions o;
  o.lr = 0.03f;
  Adam opt(net.named_parameters(), o);
  float first = 0, last = 0;
  for (int step = 0; step < 60; ++step) {
    const Tensor loss = bce_with_logits(net(ids), y);
    if (step == 0) first = loss.item();
    last = loss.item();
    loss.backward();
    opt.step();
    net.zero_grad();
  }
  EXPECT_LT(last, 0.25f * first) << "first " << first << " last " << last;
}
