// batch_norm: hand-computed forward and running statistics (PyTorch's update), eval mode,
// fast vs reference kernels, fused vs composed backward, gradient and double-backward checks.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/ops.h"
#include "tests/engine/gradcheck.h"

namespace signet {
namespace {

using test::all_close;
using test::throws_error;

TEST(OpsBatchNorm, TrainingHandComputed) {
  // two channels: c0 = 1, 2, 3, 4 (mean 2.5, var 1.25); c1 = 2, 4, 6, 8 (mean 5, var 5)
  Tensor x = Tensor::from_vector({1, 2, 2, 4, 3, 6, 4, 8}, {4, 2});
  Tensor w = Tensor::from_vector({1, 2}, {2}), b = Tensor::from_vector({0, 1}, {2});
  Tensor rm = Tensor::zeros({2}), rv = Tensor::ones({2});
  Tensor y = batch_norm(x, w, b, rm, rv, true);
  const double e = 1e-5;
  const double s0 = 1 / std::sqrt(1.25 + e), s1 = 1 / std::sqrt(5 + e);
  std::vector<float> want;
  for (int r = 0; r < 4; ++r) {
    want.push_back(static_cast<float>((r + 1 - 2.5) * s0));
    want.push_back(static_cast<float>((2 * (r + 1) - 5) * s1 * 2 + 1));
  }
  EXPECT_TRUE(all_close(y, want, 1e-5, 1e-5, "y"));
  // running = 0.9 running + 0.1 batch, with the unbiased variance (m / (m - 1) = 4 / 3)
  EXPECT_TRUE(all_close(rm, std::vector<float>{0.25f, 0.5f}, 1e-6, 1e-6, "running_mean"));
  EXPECT_TRUE(all_close(rv, std::vector<float>{0.9f + 0.1f * 5 / 3.f, 0.9f + 0.1f * 20 / 3.f}, 1e-6, 1e-6, "running_var"));
  batch_norm(x, w, b, rm, rv, true);  // a second step compounds
  EXPECT_TRUE(all_close(rm, std::vector<float>{0.475f, 0.95f}, 1e-6, 1e-6, "running_mean 2"));
  EXPECT_TRUE(all_close(rv, std::vector<float>{0.9f * (0.9f + 0.5f / 3) + 0.5f / 3, 0.9f * (0.9f + 2 / 3.f) + 2 / 3.f},
                        1e-6, 1e-6, "running_var 2"));
  // another momentum; no affine parameters; no running statistics at all
  Tensor rm3 = Tensor::from_vector({1, 1}, {2}), rv3 = Tensor::from_vector({2, 2}, {2});
  Tensor y3 = batch_norm(x, Tensor(), Tensor(), rm3, rv3, true, 0.3);
  EXPECT_TRUE(all_close(rm3, std::vector<float>{0.7f + 0.75f, 0.7f + 1.5f}, 1e-6, 1e-6, "momentum 0.3 mean"));
  EXPECT_TRUE(all_close(rv3, std::vector<float>{1.4f + 0.5f, 1.4f + 2.0f}, 1e-6, 1e-6, "momentum 0.3 var"));
  EXPECT_TRUE(all_close(batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), true), y3, 0, 0));
  EXPECT_NEAR(y3.to_vector()[0], -1.5 * s0, 1e-5);
}

TEST(OpsBatchNorm, EvalUsesRunningStatistics) {
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6, 7, 8}, {1, 2, 2, 2});
  Tensor w = Tensor::from_vector({2, 1}, {2}), b = Tensor::from_vector({1, -1}, {2});
  Tensor rm = Tensor::from_vector({1, 5}, {2}), rv = Tensor::from_vector({4, 1}, {2});
  Tensor y = batch_norm(x, w, b, rm, rv, false);
  std::vector<float> want;
  for (int i = 0; i < 4; ++i) want.push_back(static_cast<float>((i + 1 - 1) / std::sqrt(4 + 1e-5) * 2 + 1));
  for (int i = 0; i < 4; ++i) want.push_back(static_cast<float>((i + 5 - 5) / std::sqrt(1 + 1e-5) - 1));
  EXPECT_TRUE(all_close(y, want, 1e-5, 1e-5, "eval"));
  EXPECT_TRUE(all_close(rm, std::vector<float>{1, 5}, 0, 0, "unchanged mean"));
  EXPECT_TRUE(all_close(rv, std::vector<float>{4, 1}, 0, 0, "unchanged var"));
  // a single sample is fine in eval mode
  EXPECT_EQ(batch_norm(Tensor::ones({1, 2}), w, b, rm, rv, false).shape(), (Shape{1, 2}));
}

// [N, C, H, W] against the same formula written with ops.
TEST(OpsBatchNorm, Matches4dFormula) {
  Rng rng(41);
  Tensor x = test::uniform_tensor({3, 4, 5, 2}, rng, -2, 3);
  Tensor w = test::uniform_tensor({4}, rng), b = test::uniform_tensor({4}, rng);
  Tensor y = batch_norm(x, w, b, Tensor(), Tensor(), true);
  const Tensor m = mean(x, {0, 2, 3}, true);
  const Tensor v = mean((x - m) * (x - m), {0, 2, 3}, true);
  const Tensor want = (x - m) / exp(mul_scalar(log(add_scalar(v, 1e-5f)), 0.5f)) * reshape(w, {1, 4, 1, 1}) +
                      reshape(b, {1, 4, 1, 1});
  EXPECT_TRUE(all_close(y, want, 1e-5, 1e-4, "bn2d"));
}

TEST(OpsBatchNorm, FastMatchesReference) {
  struct Case { int64_t N, C, S; };
  Rng rng(42);
  for (const Case& c : std::vector<Case>{{4, 3, 1}, {128, 64, 1}, {2, 3, 7}, {16, 8, 256}, {5, 1, 33}, {3, 17, 1024}}) {
    const std::string what = "N" + std::to_string(c.N) + " C" + std::to_string(c.C) + " S" + std::to_string(c.S);
    Tensor x = test::uniform_tensor({c.N, c.C, c.S}, rng, -1, 3), g = test::uniform_tensor({c.N, c.C, c.S}, rng);
    Tensor w = test::uniform_tensor({c.C}, rng);
    Tensor mr = Tensor::empty({c.C}), vr = Tensor::empty({c.C}), mf = Tensor::empty({c.C}), vf = Tensor::empty({c.C});
    cpu::batch_norm_stats_ref(x.f32(), c.N, c.C, c.S, mr.f32(), vr.f32());
    cpu::batch_norm_stats_fast(x.f32(), c.N, c.C, c.S, mf.f32(), vf.f32());
    EXPECT_TRUE(all_close(mf, mr, 1e-6, 1e-5, what + " mean"));
    EXPECT_TRUE(all_close(vf, vr, 1e-6, 1e-5, what + " var"));
    Tensor shift = test::uniform_tensor({c.C}, rng);
    Tensor yr = Tensor::empty(x.shape()), yf = Tensor::empty(x.shape());
    cpu::batch_norm_apply_ref(x.f32(), c.N, c.C, c.S, w.f32(), shift.f32(), yr.f32());
    cpu::batch_norm_apply_fast(x.f32(), c.N, c.C, c.S, w.f32(), shift.f32(), yf.f32());
    EXPECT_TRUE(all_close(yf, yr, 1e-6, 1e-6, what + " apply"));
    Tensor invstd = Tensor::empty({c.C});
    for (int64_t i = 0; i < c.C; ++i) invstd.f32()[i] = 1.0f / std::sqrt(vr.f32()[i] + 1e-5f);
    for (bool training : {true, false}) {
      Tensor dxr = Tensor::empty(x.shape()), dxf = Tensor::empty(x.shape());
      Tensor dwr = Tensor::empty({c.C}), dwf = Tensor::empty({c.C}), dbr = Tensor::empty({c.C}), dbf = Tensor::empty({c.C});
      cpu::batch_norm_backward_ref(g.f32(), x.f32(), c.N, c.C, c.S, mr.f32(), invstd.f32(), w.f32(), training,
                                   dxr.f32(), dwr.f32(), dbr.f32());
      cpu::batch_norm_backward_fast(g.f32(), x.f32(), c.N, c.C, c.S, mr.f32(), invstd.f32(), w.f32(), training,
                                    dxf.f32(), dwf.f32(), dbf.f32());
      const std::string t = what + (training ? " train" : " eval");
      EXPECT_TRUE(all_close(dxf, dxr, 1e-5, 1e-4, t + " dx"));
      EXPECT_TRUE(all_close(dwf, dwr, 1e-5 * c.N * c.S, 1e-4, t + " dweight"));
      EXPECT_TRUE(all_close(dbf, dbr, 1e-5 * c.N * c.S, 1e-4, t + " dbias"));
    }
  }
}

// The fused backward (no graph) and the composed one (create_graph) agree.
TEST(OpsBatchNorm, FusedAndComposedBackwardAgree) {
  Rng rng(43);
  for (bool training : {true, false}) {
    Tensor x = test::uniform_tensor({4, 3, 3, 2}, rng).set_requires_grad(true);
    Tensor w = test::uniform_tensor({3}, rng).set_requires_grad(true);
    Tensor b = test::uniform_tensor({3}, rng).set_requires_grad(true);
    Tensor rm = test::uniform_tensor({3}, rng), rv = test::uniform_tensor({3}, rng, 0.5f, 2.0f);
    Tensor R = test::uniform_tensor(x.shape(), rng);
    Tensor y = batch_norm(x, w, b, rm, rv, training);
    const std::vector<Tensor> fused = grad(y, {x, w, b}, R, false);
    Tensor y2 = batch_norm(x, w, b, rm, rv, training);
    const std::vector<Tensor> composed = grad(y2, {x, w, b}, R, true);
    for (int i = 0; i < 3; ++i) EXPECT_TRUE(all_close(composed[i], fused[i], 1e-5, 1e-4, "input " + std::to_string(i)));
  }
}

TEST(OpsBatchNorm, Gradcheck) {
  Rng rng(44);
  test::GradCheckOptions o;
  o.eps = 1e-3;
  o.atol = 3e-3;
  o.rtol = 3e-3;
  Tensor x4 = test::uniform_tensor({3, 2, 2, 3}, rng), x2 = test::uniform_tensor({5, 3}, rng);
  Tensor w2 = test::uniform_tensor({2}, rng), b2 = test::uniform_tensor({2}, rng);
  Tensor w3 = test::uniform_tensor({3}, rng), b3 = test::uniform_tensor({3}, rng);
  Tensor rm = test::uniform_tensor({2}, rng), rv = test::uniform_tensor({2}, rng, 0.5f, 2.0f);
  for (bool training : {true, false}) {
    auto f4 = [&](const std::vector<Tensor>& in) {
      return batch_norm(in[0], in[1], in[2], rm.clone(), rv.clone(), training);  // clones: no drift
    };
    EXPECT_TRUE(test::gradcheck(f4, {x4, w2, b2}, o)) << "training " << training;
  }
  auto f2 = [](const std::vector<Tensor>& in) { return batch_norm(in[0], in[1], in[2], Tensor(), Tensor(), true); };
  EXPECT_TRUE(test::gradcheck(f2, {x2, w3, b3}, o));
  auto noaffine = [](const std::vector<Tensor>& in) { return batch_norm(in[0], Tensor(), Tensor(), Tensor(), Tensor(), true); };
  EXPECT_TRUE(test::gradcheck(noaffine, {x4}, o));
}

TEST(OpsBatchNorm, DoubleBackwardTraining) {
  Rng rng(45);
  test::GradCheckOptions o;
  o.eps = 1e-3;
  o.atol = 5e-3;
  o.rtol = 5e-3;
  Tensor x4 = test::uniform_tensor({3, 2, 2, 2}, rng), w = test::uniform_tensor({2}, rng), b = test::uniform_tensor({2}, rng);
  auto f = [](const std::vector<Tensor>& in) { return batch_norm(in[0], in[1], in[2], Tensor(), Tensor(), true); };
  EXPECT_TRUE(test::gradgradcheck(f, {x4, w, b}, o));
  Tensor x2 = test::uniform_tensor({4, 2}, rng);
  EXPECT_TRUE(test::gradgradcheck(f, {x2, w, b}, o));
  // eval mode: linear in x, but the input gradient depends on the weight
  Tensor rm = test::uniform_tensor({2}, rng), rv = test::uniform_tensor({2}, rng, 0.5f, 2.0f);
  auto fe = [&](const std::vector<Tensor>& in) { return tanh(batch_norm(in[0], in[1], in[2], rm, rv, false)); };
  EXPECT_TRUE(test::gradgradcheck(fe, {x4, w, b}, o));
}

TEST(OpsBatchNorm, Errors) {
  Tensor x = Tensor::zeros({4, 3, 2, 2});
  EXPECT_TRUE(throws_error([&] { batch_norm(Tensor::zeros({4}), Tensor(), Tensor(), Tensor(), Tensor(), true); },
                           "[N, C]"));
  EXPECT_TRUE(throws_error([&] { batch_norm(x, Tensor::ones({2}), Tensor(), Tensor(), Tensor(), true); }, "weight"));
  EXPECT_TRUE(throws_error([&] { batch_norm(x, Tensor(), Tensor::ones({4}), Tensor(), Tensor(), true); }, "bias"));
  EXPECT_TRUE(throws_error([&] { batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), false); }, "evaluation mode"));
  EXPECT_TRUE(throws_error([&] { batch_norm(x, Tensor(), Tensor(), Tensor::zeros({3}), Tensor(), true); }, "both"));
  EXPECT_TRUE(throws_error([&] { batch_norm(Tensor::zeros({1, 3}), Tensor(), Tensor(), Tensor(), Tensor(), true); },
                           "more than 1 value per channel"));
  EXPECT_TRUE(throws_error([&] { batch_norm(x, Tensor(), Tensor(), Tensor::zeros({3}), Tensor::ones({2}), true); },
                           "running_var"));
}

}  // namespace
}  // namespace signet
