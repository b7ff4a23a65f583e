#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <tuple>

#include "engine/ops.h"
#include "engine/serialize/safetensors.h"
#include "tests/engine/gradcheck.h"

using namespace signet;
using namespace signet::test;

namespace {

struct LstmArgs {
  Tensor x, w_ih, w_hh, b_ih, b_hh, h0, c0;
};

LstmArgs random_args(int64_t B, int64_t T, int64_t D, int64_t H, uint64_t seed, bool states) {
  Rng rng(seed);
  LstmArgs a;
  a.x = uniform_tensor({B, T, D}, rng);
  a.w_ih = uniform_tensor({4 * H, D}, rng, -0.6f, 0.6f);
  a.w_hh = uniform_tensor({4 * H, H}, rng, -0.6f, 0.6f);
  a.b_ih = uniform_tensor({4 * H}, rng, -0.3f, 0.3f);
  a.b_hh = uniform_tensor({4 * H}, rng, -0.3f, 0.3f);
  if (states) {
    a.h0 = uniform_tensor({B, H}, rng);
    a.c0 = uniform_tensor({B, H}, rng);
  }
  return a;
}

// Every output of the LSTM in one tensor, so one projection checks all three.
Tensor flat_all(const LstmOut& r) {
  return concat({reshape(r.output, {-1}), reshape(r.h_n, {-1}), reshape(r.c_n, {-1})}, 0);
}

}  // namespace

TEST(LstmCell, FastMatchesReference) {
  // 3 x 37: odd width for vector tails; 64 x 100: the IMDB step; 129 x 260: rows split
  // over threads (past kParallelGrain), unequal shares.
  for (auto [B, H] : {std::pair<int64_t, int64_t>{3, 37}, {64, 100}, {129, 260}}) {
    Rng rng(B * 1000 + H);
    const Tensor gates = uniform_tensor({B, 4 * H}, rng, -6.0f, 6.0f);
    const Tensor cp = uniform_tensor({B, H}, rng, -2.0f, 2.0f);
    const Tensor gh = uniform_tensor({B, H}, rng), gc = uniform_tensor({B, H}, rng);
    for (bool with_c : {true, false}) {
      const cpu::Rows c_prev{with_c ? cp.f32() : nullptr, H};
      Tensor h1 = Tensor::empty({B, H}), c1 = Tensor::empty({B, H}), a1 = Tensor::empty({B, 4 * H});
      Tensor h2 = Tensor::empty({B, H}), c2 = Tensor::empty({B, H}), a2 = Tensor::empty({B, 4 * H});
      cpu::lstm_cell_forward_ref(B, H, {gates.f32(), 4 * H}, c_prev, {h1.f32(), H}, {c1.f32(), H}, {a1.f32(), 4 * H});
      cpu::lstm_cell_forward_fast(B, H, {gates.f32(), 4 * H}, c_prev, {h2.f32(), H}, {c2.f32(), H}, {a2.f32(), 4 * H});
      EXPECT_TRUE(all_close(h2, h1, 1e-6, 1e-5, "h"));
      EXPECT_TRUE(all_close(c2, c1, 1e-6, 1e-5, "c"));
      EXPECT_TRUE(all_close(a2, a1, 1e-6, 1e-5, "activated gates"));
      // In place (act aliasing gates), as the sequence kernel runs it.
      Tensor g3 = gates.clone(), h3 = Tensor::empty({B, H}), c3 = Tensor::empty({B, H});
      cpu::lstm_cell_forward_fast(B, H, {g3.f32(), 4 * H}, c_prev, {h3.f32(), H}, {c3.f32(), H}, {g3.f32(), 4 * H});
      EXPECT_TRUE(all_close(h3, h1, 1e-6, 1e-5, "h in place"));
      EXPECT_TRUE(all_close(g3, a1, 1e-6, 1e-5, "gates activated in place"));

      for (int mask = 0; mask < 4; ++mask) {  // gh and / or gc absent (zeros)
        const cpu::Rows rh{mask & 1 ? nullptr : gh.f32(), H}, rc{mask & 2 ? nullptr : gc.f32(), H};
        Tensor d1 = Tensor::empty({B, 4 * H}), e1 = Tensor::empty({B, H});
        Tensor d2 = Tensor::empty({B, 4 * H}), e2 = Tensor::empty({B, H});
        cpu::lstm_cell_backward_ref(B, H, {a1.f32(), 4 * H}, c_prev, {c1.f32(), H}, rh, rc, {d1.f32(), 4 * H}, {e1.f32(), H});
        cpu::lstm_cell_backward_fast(B, H, {a1.f32(), 4 * H}, c_prev, {c1.f32(), H}, rh, rc, {d2.f32(), 4 * H}, {e2.f32(), H});
        EXPECT_TRUE(all_close(d2, d1, 1e-6, 1e-5, "d gates"));
        EXPECT_TRUE(all_close(e2, e1, 1e-6, 1e-5, "d c_prev"));
      }
    }
  }
}

TEST(LstmCell, OpMatchesFormulasAndChecksShapes) {
  Rng rng(5);
  const Tensor gates = uniform_tensor({2, 12}, rng, -2, 2), cp = uniform_tensor({2, 3}, rng);
  const LstmCellOut r = lstm_cell_pointwise(gates, cp);
  const std::vector<float> g = gates.to_vector(), c = cp.to_vector();
  auto sig = [](double v) { return 1.0 / (1.0 + std::exp(-v)); };
  std::vector<float> eh, ec;
  for (int b = 0; b < 2; ++b)
    for (int j = 0; j < 3; ++j) {
      const float* a = g.data() + b * 12;
      const double cn = sig(a[3 + j]) * c[b * 3 + j] + sig(a[j]) * std::tanh(a[6 + j]);
      ec.push_back(static_cast<float>(cn));
      eh.push_back(static_cast<float>(sig(a[9 + j]) * std::tanh(cn)));
    }
  EXPECT_TRUE(all_close(r.h, eh, 1e-6, 1e-5, "h"));
  EXPECT_TRUE(all_close(r.c, ec, 1e-6, 1e-5, "c"));
  EXPECT_TRUE(throws_error([&] { lstm_cell_pointwise(Tensor::zeros({2, 11}), cp); }, "4*hidden"));
}

TEST(LstmCell, GradientAndDoubleBackward) {
  Rng rng(6);
  const std::vector<Tensor> in{uniform_tensor({3, 16}, rng, -2, 2), uniform_tensor({3, 4}, rng)};
  auto f = [](const std::vector<Tensor>& v) {
    const LstmCellOut r = lstm_cell_pointwise(v[0], v[1]);
    return concat({r.h, r.c}, 1);
  };
  EXPECT_TRUE(gradcheck(f, in));
  EXPECT_TRUE(gradgradcheck(f, in));
  // Only h used: the c half of the gradient is zero padding; still correct.
  auto fh = [](const std::vector<Tensor>& v) { return lstm_cell_pointwise(v[0], v[1]).h; };
  EXPECT_TRUE(gradcheck(fh, in));
}

// One step, one unit, every number by hand:
//   a_i = 0.5*2 + 0.1 + 0.2*0.5 + 0.0 = 1.2    a_f = -0.3*2 + 0.2 + 0.4*0.5 - 0.1 = -0.3
//   a_g = 0.8*2 - 0.1 - 0.6*0.5 + 0.3 = 1.5    a_o = 0.1*2 + 0.0 + 0.9*0.5 + 0.2 = 0.85
//   i = 0.76852478, f = 0.42555748, g = 0.90514825, o = 0.70056714
//   c = f*(-1) + i*g = 0.27007138,  h = o * tanh(c) = 0.18473343
TEST(Lstm, HandComputedOneStep) {
  const Tensor x = Tensor::from_vector({2.0f}, {1, 1, 1});
  Tensor w_ih = Tensor::from_vector({0.5f, -0.3f, 0.8f, 0.1f}, {4, 1});
  const Tensor w_hh = Tensor::from_vector({0.2f, 0.4f, -0.6f, 0.9f}, {4, 1});
  const Tensor b_ih = Tensor::from_vector({0.1f, 0.2f, -0.1f, 0.0f}, {4});
  const Tensor b_hh = Tensor::from_vector({0.0f, -0.1f, 0.3f, 0.2f}, {4});
  const Tensor h0 = Tensor::from_vector({0.5f}, {1, 1});
  Tensor c0 = Tensor::from_vector({-1.0f}, {1, 1});
  c0.set_requires_grad(true);
  const LstmOut r = lstm(x, w_ih, w_hh, b_ih, b_hh, h0, c0);
  EXPECT_NEAR(r.output.item(), 0.18473343, 1e-6);
  EXPECT_NEAR(r.h_n.item(), 0.18473343, 1e-6);
  EXPECT_NEAR(r.c_n.item(), 0.27007138, 1e-6);
  // dh/dc0 = o (1 - tanh(c)^2) f
  const double tc = std::tanh(0.27007138);
  r.h_n.backward();
  EXPECT_NEAR(c0.grad().item(), 0.70056714 * (1 - tc * tc) * 0.42555748, 1e-6);
}

// The second size is large enough for the sequence kernels to split the batch over threads
// (odd B: unequal shares).
TEST(Lstm, FusedMatchesComposed) {
  for (auto [B, T, D, H, states] : {std::tuple<int64_t, int64_t, int64_t, int64_t, bool>{3, 4, 3, 5, true},
                                    {3, 4, 3, 5, false}, {9, 20, 8, 32, true}, {9, 20, 8, 32, false}}) {
    SCOPED_TRACE(testing::Message() << "B " << B << " T " << T << " states " << states);
    const LstmArgs a = random_args(B, T, D, H, 11, states);
    std::vector<Tensor> in{a.x, a.w_ih, a.w_hh, a.b_ih, a.b_hh};
    if (states) in.insert(in.end(), {a.h0, a.c0});
    const bool with_states = states;  // clang 14 cannot capture structured bindings (C++20)
    auto run = [&](bool fused) {
      std::vector<Tensor> leaves;
      for (const Tensor& t : in) leaves.push_back(t.clone().set_requires_grad(true));
      const Tensor h0 = with_states ? leaves[5] : Tensor(), c0 = with_states ? leaves[6] : Tensor();
      const LstmOut r = (fused ? lstm : lstm_composed)(leaves[0], leaves[1], leaves[2], leaves[3],
                                                       leaves[4], h0, c0);
      Rng rng(3);
      const Tensor y = flat_all(r);
      std::vector<Tensor> out{y.detach()};
      for (const Tensor& g : signet::grad(y, leaves, normal_tensor(y.shape(), rng))) out.push_back(g);
      return out;
    };
    const std::vector<Tensor> f = run(true), c = run(false);
    for (size_t i = 0; i < f.size(); ++i)
      // Weight gradients sum B*T terms in another order (BLAS blocking): float rounding.
      EXPECT_TRUE(all_close(f[i], c[i], 2e-5, 1e-4, "item " + std::to_string(i)));
  }
}

TEST(Lstm, GradcheckAllInputs) {
  const LstmArgs a = random_args(2, 3, 4, 5, 21, true);
  auto f = [](const std::vector<Tensor>& v) {
    return flat_all(lstm(v[0], v[1], v[2], v[3], v[4], v[5], v[6]));
  };
  EXPECT_TRUE(gradcheck(f, {a.x, a.w_ih, a.w_hh, a.b_ih, a.b_hh, a.h0, a.c0}));
  // Zero initial states and no biases (bias=False).
  auto g = [](const std::vector<Tensor>& v) { return flat_all(lstm(v[0], v[1], v[2], Tensor(), Tensor())); };
  EXPECT_TRUE(gradcheck(g, {a.x, a.w_ih, a.w_hh}));
}

TEST(Lstm, DoubleBackward) {
  const LstmArgs a = random_args(2, 3, 2, 2, 31, true);
  auto f = [](const std::vector<Tensor>& v) {
    return flat_all(lstm(v[0], v[1], v[2], v[3], v[4], v[5], v[6]));
  };
  EXPECT_TRUE(gradgradcheck(f, {a.x, a.w_ih, a.w_hh, a.b_ih, a.b_hh, a.h0, a.c0}));
}

TEST(Lstm, NoGraphWithoutGradAndBackwardTwiceAccumulates) {
  LstmArgs a = random_args(2, 3, 4, 5, 41, false);
  EXPECT_FALSE(lstm(a.x, a.w_ih, a.w_hh, a.b_ih, a.b_hh).output.requires_grad());
  a.w_hh.set_requires_grad(true);
  const Tensor loss = sum(lstm(a.x, a.w_ih, a.w_hh, a.b_ih, a.b_hh).output);
  loss.backward();
  const std::vector<float> once = a.w_hh.grad().to_vector();
  loss.backward();
  std::vector<float> twice = once;
  for (float& v : twice) v *= 2;
  EXPECT_TRUE(all_close(a.w_hh.grad(), twice, 1e-6, 1e-5, "accumulated"));
}

TEST(Lstm, ErrorsNameTheProblem) {
  const LstmArgs a = random_args(2, 3, 4, 5, 51, true);
  EXPECT_TRUE(throws_error([&] { lstm(reshape(a.x, {6, 4}), a.w_ih, a.w_hh, a.b_ih, a.b_hh); }, "batch-first"));
  EXPECT_TRUE(throws_error([&] { lstm(a.x, Tensor::zeros({20, 3}), a.w_hh, a.b_ih, a.b_hh); }, "4 features"));
  EXPECT_TRUE(throws_error([&] { lstm(a.x, a.w_ih, Tensor::zeros({20, 4}), a.b_ih, a.b_hh); }, "weight_hh must be [20, 5]"));
  EXPECT_TRUE(throws_error([&] { lstm(a.x, a.w_ih, a.w_hh, Tensor::zeros({19}), a.b_hh); }, "biases must be [20]"));
  EXPECT_TRUE(throws_error([&] { lstm(a.x, a.w_ih, a.w_hh, a.b_ih, a.b_hh, Tensor::zeros({1, 2, 5})); }, "h0 / c0"));
}

// Against PyTorch: tests/golden/make_lstm.py (Embedding(20, 6) -> LSTM(6, 5), B=3, T=7).
TEST(Lstm, GoldenAgainstPyTorch) {
  const NamedTensors g = load_safetensors(std::string(SIGNET_SOURCE_DIR) + "/tests/golden/lstm_golden.safetensors");
  for (const std::string& prefix : {std::string(), std::string("zero.")}) {
    SCOPED_TRACE(prefix.empty() ? "given h0, c0" : "zero initial states");
    const bool states = prefix.empty();
    std::vector<Tensor> p;
    for (const char* n : {"embedding.weight", "lstm.weight_ih_l0", "lstm.weight_hh_l0",
                          "lstm.bias_ih_l0", "lstm.bias_hh_l0", "h0", "c0"})
      p.push_back(g.at(n).clone().set_requires_grad(true));
    const Tensor x = embedding(p[0], g.at("ids"));
    if (states) {
      EXPECT_TRUE(all_close(x, g.at("x"), 0, 0, "embedding output"));
    }
    const LstmOut r = lstm(x, p[1], p[2], p[3], p[4], states ? p[5] : Tensor(), states ? p[6] : Tensor());
    const Tensor loss = sum(r.output * g.at("r_out")) + sum(r.h_n * g.at("r_h")) + sum(r.c_n * g.at("r_c"));
    std::vector<Tensor> wrt{p[0], p[1], p[2], p[3], p[4], x};
    if (states) wrt.insert(wrt.end(), {p[5], p[6]});
    const std::vector<Tensor> grads = signet::grad(loss, wrt);
    EXPECT_TRUE(all_close(r.output, g.at(prefix + "output"), 1e-6, 1e-4, "output"));
    EXPECT_TRUE(all_close(r.h_n, g.at(prefix + "h_n"), 1e-6, 1e-4, "h_n"));
    EXPECT_TRUE(all_close(r.c_n, g.at(prefix + "c_n"), 1e-6, 1e-4, "c_n"));
    EXPECT_TRUE(all_close(reshape(loss, {1}), g.at(prefix + "loss"), 1e-6, 1e-4, "loss"));
    const char* names[] = {"embedding.weight", "lstm.weight_ih_l0", "lstm.weight_hh_l0", "lstm.bias_ih_l0",
                           "lstm.bias_hh_l0", "x", "h0", "c0"};
    for (size_t i = 0; i < grads.size(); ++i)
      EXPECT_TRUE(all_close(grads[i], g.at(prefix + "grad." + names[i]), 1e-6, 1e-4, names[i]));
  }
}

TEST(Lstm, SequenceKernelsHandleSingleStep) {
  // T = 1 with zero states: no recurrence GEMM at all; compare with the cell reference.
  const LstmArgs a = random_args(3, 1, 4, 2, 61, false);
  const LstmOut r = lstm(a.x, a.w_ih, a.w_hh, a.b_ih, a.b_hh);
  const Tensor gates = linear(reshape(a.x, {3, 4}), a.w_ih, a.b_ih + a.b_hh);
  std::vector<float> h(6), c(6);
  cpu::lstm_cell_forward_ref(3, 2, {gates.f32(), 8}, {}, {h.data(), 2}, {c.data(), 2}, {});
  EXPECT_TRUE(all_close(r.h_n, h, 1e-6, 1e-5, "h"));
  EXPECT_TRUE(all_close(r.c_n, c, 1e-6, 1e-5, "c"));
}
