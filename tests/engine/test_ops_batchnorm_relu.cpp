// batch_norm_relu: the fused op against relu(batch_norm(...)) (values, running statistics,
// every gradient, with and without a graph), its fast kernels against the references,
// gradient and double-backward checks, and the layer helper's taps.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/ops.h"
#include "layers/conv_layers.h"
#include "layers/layers.h"
#include "tests/engine/gradcheck.h"

namespace signet {
namespace {

using test::all_close;

TEST(OpsBatchNormRelu, FastMatchesReference) {
  struct Case { int64_t N, C, S; };
  Rng rng(46);
  for (const Case& c : std::vector<Case>{{4, 3, 1}, {128, 64, 1}, {2, 3, 7}, {16, 8, 256}, {5, 1, 33}, {3, 17, 1024}}) {
    const std::string what = "N" + std::to_string(c.N) + " C" + std::to_string(c.C) + " S" + std::to_string(c.S);
    Tensor x = test::uniform_tensor({c.N, c.C, c.S}, rng, -1, 3), g = test::uniform_tensor({c.N, c.C, c.S}, rng);
    Tensor mean = Tensor::empty({c.C}), var = Tensor::empty({c.C});
    cpu::batch_norm_stats_ref(x.f32(), c.N, c.C, c.S, mean.f32(), var.f32());
    Tensor w = test::uniform_tensor({c.C}, rng), b = test::uniform_tensor({c.C}, rng);
    Tensor invstd = Tensor::empty({c.C}), scale = Tensor::empty({c.C}), shift = Tensor::empty({c.C});
    cpu::batch_norm_channel(mean.f32(), var.f32(), w.f32(), b.f32(), 1e-5, c.C, invstd.f32(), scale.f32(), shift.f32());
    Tensor yr = Tensor::empty(x.shape()), yf = Tensor::empty(x.shape()), plain = Tensor::empty(x.shape());
    cpu::batch_norm_apply_ref(x.f32(), c.N, c.C, c.S, scale.f32(), shift.f32(), yr.f32(), true);
    cpu::batch_norm_apply_fast(x.f32(), c.N, c.C, c.S, scale.f32(), shift.f32(), yf.f32(), true);
    cpu::batch_norm_apply_ref(x.f32(), c.N, c.C, c.S, scale.f32(), shift.f32(), plain.f32(), false);
    EXPECT_TRUE(all_close(yf, yr, 1e-6, 1e-6, what + " apply"));
    EXPECT_TRUE(all_close(yr, relu(plain), 0, 0, what + " apply is relu of the plain apply"));
    for (bool training : {true, false}) {
      const std::string t = what + (training ? " train" : " eval");
      Tensor dxr = Tensor::empty(x.shape()), dxf = Tensor::empty(x.shape()), dxu = Tensor::empty(x.shape());
      Tensor dwr = Tensor::empty({c.C}), dwf = Tensor::empty({c.C}), dbr = Tensor::empty({c.C}), dbf = Tensor::empty({c.C});
      Tensor dwu = Tensor::empty({c.C}), dbu = Tensor::empty({c.C});
      cpu::batch_norm_backward_ref(g.f32(), x.f32(), c.N, c.C, c.S, mean.f32(), invstd.f32(), w.f32(), training,
                                   dxr.f32(), dwr.f32(), dbr.f32(), scale.f32(), shift.f32());
      cpu::batch_norm_backward_fast(g.f32(), x.f32(), c.N, c.C, c.S, mean.f32(), invstd.f32(), w.f32(), training,
                                    dxf.f32(), dwf.f32(), dbf.f32(), scale.f32(), shift.f32());
      // unfused: the ReLU's backward first, then the plain normalisation's
      const Tensor gm = relu_grad(g, plain);
      cpu::batch_norm_backward_ref(gm.f32(), x.f32(), c.N, c.C, c.S, mean.f32(), invstd.f32(), w.f32(), training,
                                   dxu.f32(), dwu.f32(), dbu.f32());
      const double sum_tol = 1e-5 * c.N * c.S;
      EXPECT_TRUE(all_close(dxf, dxr, 1e-5, 1e-4, t + " dx"));
      EXPECT_TRUE(all_close(dwf, dwr, sum_tol, 1e-4, t + " dweight"));
      EXPECT_TRUE(all_close(dbf, dbr, sum_tol, 1e-4, t + " dbias"));
      EXPECT_TRUE(all_close(dxr, dxu, 1e-5, 1e-4, t + " dx vs unfused"));
      EXPECT_TRUE(all_close(dwr, dwu, sum_tol, 1e-4, t + " dweight vs unfused"));
      EXPECT_TRUE(all_close(dbr, dbu, sum_tol, 1e-4, t + " dbias vs unfused"));
      // only the parameters' gradients (the input needs none): the mask goes to a scratch buffer
      Tensor dw2 = Tensor::empty({c.C}), db2 = Tensor::empty({c.C});
      cpu::batch_norm_backward_fast(g.f32(), x.f32(), c.N, c.C, c.S, mean.f32(), invstd.f32(), w.f32(), training,
                                    nullptr, dw2.f32(), db2.f32(), scale.f32(), shift.f32());
      EXPECT_TRUE(all_close(dw2, dwf, 0, 0, t + " dweight without dx"));
      EXPECT_TRUE(all_close(db2, dbf, 0, 0, t + " dbias without dx"));
    }
  }
}

// The op against the two ops it replaces: output, running statistics, and gradients of x,
// weight and bias through both the fused backward and the composed one (create_graph).
TEST(OpsBatchNormRelu, MatchesReluOfBatchNorm) {
  Rng rng(47);
  for (bool training : {true, false})
    for (bool graph : {false, true}) {
      const std::string t = std::string(training ? "train" : "eval") + (graph ? " graph" : "");
      Tensor x = test::uniform_tensor({4, 3, 5, 3}, rng, -2, 2).set_requires_grad(true);
      Tensor w = test::uniform_tensor({3}, rng).set_requires_grad(true);
      Tensor b = test::uniform_tensor({3}, rng).set_requires_grad(true);
      Tensor rm = test::uniform_tensor({3}, rng), rv = test::uniform_tensor({3}, rng, 0.5f, 2.0f);
      Tensor rm2 = rm.clone(), rv2 = rv.clone();
      Tensor R = test::uniform_tensor(x.shape(), rng);
      Tensor fused = batch_norm_relu(x, w, b, rm, rv, training);
      Tensor two = relu(batch_norm(x, w, b, rm2, rv2, training));
      EXPECT_TRUE(all_close(fused, two, 0, 0, t + " output"));
      EXPECT_TRUE(all_close(rm, rm2, 0, 0, t + " running_mean"));
      EXPECT_TRUE(all_close(rv, rv2, 0, 0, t + " running_var"));
      int64_t cut = 0;
      for (float v : fused.to_vector()) cut += v == 0.0f;
      EXPECT_GT(cut, 0) << "some values must be cut by the ReLU";
      const std::vector<Tensor> gf = grad(fused, {x, w, b}, R, graph);
      const std::vector<Tensor> gt = grad(two, {x, w, b}, R, false);
      for (int i = 0; i < 3; ++i) EXPECT_TRUE(all_close(gf[i], gt[i], 1e-5, 1e-4, t + " grad " + std::to_string(i)));
    }
}

TEST(OpsBatchNormRelu, GradcheckAndDoubleBackward) {
  Rng rng(48);
  test::GradCheckOptions o;
  o.eps = 1e-3;
  o.atol = 5e-3;
  o.rtol = 5e-3;
  Tensor x = test::uniform_tensor({3, 2, 2, 2}, rng), w = test::uniform_tensor({2}, rng), b = test::uniform_tensor({2}, rng);
  Tensor rm = test::uniform_tensor({2}, rng), rv = test::uniform_tensor({2}, rng, 0.5f, 2.0f);
  for (bool training : {true, false}) {
    auto f = [&](const std::vector<Tensor>& in) {
      return batch_norm_relu(in[0], in[1], in[2], rm.clone(), rv.clone(), training);
    };
    EXPECT_TRUE(test::gradcheck(f, {x, w, b}, o)) << "training " << training;
    EXPECT_TRUE(test::gradgradcheck(f, {x, w, b}, o)) << "training " << training;
  }
}

// The layer helper: fused unless bn's own output is tapped; relu's tap is the fused output.
TEST(OpsBatchNormRelu, LayerHelperKeepsTaps) {
  Rng rng(49);
  auto net = std::make_shared<Sequential>("Sequential");
  auto bn = std::make_shared<BatchNorm2d>(3);
  auto act = std::make_shared<ReLU>();
  net->add("bn", bn);
  net->add("relu", act);
  net->assign_paths();
  bn->weight().copy_(test::uniform_tensor({3}, rng));
  bn->bias().copy_(test::uniform_tensor({3}, rng));
  const Tensor x = test::uniform_tensor({2, 3, 4, 4}, rng, -2, 2);
  bn->eval();
  const Tensor want = relu(batch_norm(x, bn->weight(), bn->bias(), bn->running_mean(), bn->running_var(), false));
  Taps relu_only;
  relu_only.wanted = {"relu"};
  EXPECT_TRUE(all_close(batch_norm_then_relu(*bn, *act, x, &relu_only), want, 0, 0, "fused"));
  EXPECT_TRUE(all_close(relu_only.require("relu"), want, 0, 0, "relu tap"));
  EXPECT_EQ(relu_only.got.count("bn"), 0u);
  Taps both;
  both.wanted = {"bn", "relu"};
  EXPECT_TRUE(all_close(batch_norm_then_relu(*bn, *act, x, &both), want, 0, 0, "unfused"));
  EXPECT_TRUE(all_close(both.require("bn"), batch_norm(x, bn->weight(), bn->bias(), bn->running_mean(),
                                                        bn->running_var(), false), 0, 0, "bn tap"));
  EXPECT_TRUE(all_close(both.require("relu"), want, 0, 0, "relu tap, unfused"));
  EXPECT_TRUE(all_close(batch_norm_then_relu(*bn, *act, x, nullptr), want, 0, 0, "no taps"));
}

}  // namespace
}  // namespace signet
