// WM_activity_regularizer: the fused kernel against the plain-loop reference, against the same
// loss composed from differentiable ops (Eq. 2 and 3 written out), and a gradient check.
#include <gtest/gtest.h>

#include "engine/ops.h"
#include "tests/engine/gradcheck.h"
#include "watermark/deepsigns/wm_regularizer.h"

using namespace signet;
using namespace signet::test;

namespace {
struct Case {
  int64_t B = 12, M = 7, S = 5, N = 6;
  std::vector<int64_t> T = {1, 3};
  Tensor f, y, mu, A, b;
  explicit Case(uint64_t seed) {
    Rng rng(seed);
    f = uniform_tensor({B, M}, rng, 0.0f, 2.0f);
    y = randint_tensor({B}, rng, S);
    y.i64()[0] = 1;  // at least one sample of a chosen class
    mu = normal_tensor({S, M}, rng);
    A = normal_tensor({M, N}, rng);
    b = Tensor::empty({static_cast<int64_t>(T.size()), N});
    for (int64_t i = 0; i < b.numel(); ++i) b.f32()[i] = static_cast<float>(rng.below(2));
  }
};

// Eq. 2 and 3 composed from autograd ops (no margin).
Tensor composed(const Case& c, const Tensor& f, const Tensor& mu, float l1, float l2) {
  std::vector<int64_t> rows;
  for (int64_t n = 0; n < c.B; ++n)
    if (c.y.i64()[n] == 1 || c.y.i64()[n] == 3) rows.push_back(n);
  const Tensor idx = Tensor::from_vector_i64(rows, {static_cast<int64_t>(rows.size())});
  const Tensor fk = index_select(f, 0, idx);
  const Tensor ck = index_select(mu, 0, index_select(c.y, 0, idx));
  const Tensor d = fk - ck;
  const Tensor attract = sum(d * d) * (1.0f / static_cast<float>(rows.size()));
  const Tensor muT = index_select(mu, 0, Tensor::from_vector_i64(c.T, {2}));
  const Tensor others = index_select(mu, 0, Tensor::from_vector_i64({0, 2, 4}, {3}));
  Tensor separate;
  for (int64_t i = 0; i < 2; ++i) {
    const Tensor diff = others - narrow(muT, 0, i, 1);  // broadcast [3,M] - [1,M]
    const Tensor s2 = sum(diff * diff);
    separate = separate.defined() ? separate + s2 : s2;
  }
  separate = separate * (1.0f / 6.0f);
  const Tensor bce = bce_with_logits(matmul(muT, c.A), c.b) * static_cast<float>(c.b.numel());
  return attract * l1 - separate * l1 + bce * l2;
}
}  // namespace

TEST(WmRegularizer, FastEqualsReferenceValueAndGradients) {
  for (uint64_t seed : {1, 2, 3}) {
    Case c(seed);
    for (float margin : {0.0f, 3.0f}) {
      std::vector<float> gf1(c.B * c.M), gmu1(c.S * c.M), gf2(c.B * c.M), gmu2(c.S * c.M);
      WmRegularizerParts p1, p2;
      const double v1 = cpu::wm_regularizer_ref(c.f.f32(), c.y.i64(), c.B, c.M, c.mu.f32(), c.S, c.T, c.A.f32(), c.N,
                                                c.b.f32(), 0.3f, 0.7f, margin, gf1.data(), gmu1.data(), &p1);
      const double v2 = cpu::wm_regularizer_fast(c.f.f32(), c.y.i64(), c.B, c.M, c.mu.f32(), c.S, c.T, c.A.f32(), c.N,
                                                 c.b.f32(), 0.3f, 0.7f, margin, gf2.data(), gmu2.data(), &p2);
      EXPECT_NEAR(v1, v2, 1e-4 * std::abs(v1) + 1e-5);
      EXPECT_NEAR(p1.loss1_separate, p2.loss1_separate, 1e-3);
      EXPECT_TRUE(all_close(gf2, gf1, 1e-5, 1e-4));
      EXPECT_TRUE(all_close(gmu2, gmu1, 1e-5, 1e-4));
    }
  }
}

// Rows of the gradient of f that are not of a chosen class are zeroed with streaming stores
// when 64-byte aligned: M = 32 (every row aligned) and M = 40 (every other row, with a tail),
// written into a 64-byte aligned tensor prefilled with garbage.
TEST(WmRegularizer, FastZeroesAlignedRowsLikeTheReference) {
  for (int64_t M : {32, 40}) {
    Rng rng(11);
    const int64_t B = 24, S = 5, N = 6;
    const std::vector<int64_t> T = {1, 3};
    Tensor f = uniform_tensor({B, M}, rng, 0.0f, 2.0f), y = randint_tensor({B}, rng, S);
    y.i64()[0] = 1;
    Tensor mu = normal_tensor({S, M}, rng), A = normal_tensor({M, N}, rng), b = Tensor::empty({2, N});
    for (int64_t i = 0; i < b.numel(); ++i) b.f32()[i] = static_cast<float>(rng.below(2));
    Tensor gf1 = Tensor::full({B, M}, 7.0f), gf2 = Tensor::full({B, M}, 7.0f);
    Tensor gmu1 = Tensor::empty({S, M}), gmu2 = Tensor::empty({S, M});
    const double v1 = cpu::wm_regularizer_ref(f.f32(), y.i64(), B, M, mu.f32(), S, T, A.f32(), N, b.f32(), 0.3f, 0.7f,
                                              1.0f, gf1.f32(), gmu1.f32(), nullptr);
    const double v2 = cpu::wm_regularizer_fast(f.f32(), y.i64(), B, M, mu.f32(), S, T, A.f32(), N, b.f32(), 0.3f,
                                               0.7f, 1.0f, gf2.f32(), gmu2.f32(), nullptr);
    EXPECT_NEAR(v1, v2, 1e-4 * std::abs(v1) + 1e-5) << "M " << M;
    EXPECT_TRUE(all_close(gf2, gf1, 1e-5, 1e-4)) << "M " << M;
    EXPECT_TRUE(all_close(gmu2, gmu1, 1e-5, 1e-4)) << "M " << M;
  }
}

TEST(WmRegularizer, EqualsTheLossComposedFromOps) {
  Case c(7);
  Tensor f1 = c.f.clone().set_requires_grad(true), mu1 = c.mu.clone().set_requires_grad(true);
  Tensor f2 = c.f.clone().set_requires_grad(true), mu2 = c.mu.clone().set_requires_grad(true);
  Tensor fused = WM_activity_regularizer(f1, c.y, mu1, c.T, c.A, c.b, 0.01f, 0.02f, 0.0f);
  Tensor ref = composed(c, f2, mu2, 0.01f, 0.02f);
  EXPECT_NEAR(fused.item(), ref.item(), 1e-4 * std::abs(ref.item()) + 1e-6);
  fused.backward();
  ref.backward();
  EXPECT_TRUE(all_close(f1.grad(), f2.grad(), 1e-6, 1e-4));
  EXPECT_TRUE(all_close(mu1.grad(), mu2.grad(), 1e-6, 1e-4));
}

TEST(WmRegularizer, GradientCheck) {
  Case c(11);
  for (float margin : {0.0f, 5.0f}) {
    GradCheckOptions o;
    o.check = {true, false, true};
    EXPECT_TRUE(gradcheck(
        [&](const std::vector<Tensor>& in) {
          return WM_activity_regularizer(in[0], in[1], in[2], c.T, c.A, c.b, 0.5f, 0.3f, margin);
        },
        {c.f, c.y, c.mu}, o));
  }
}

TEST(WmRegularizer, MarginCapsTheSeparation) {
  Case c(5);
  WmRegularizerParts unc, cap;
  WM_activity_regularizer(c.f, c.y, c.mu, c.T, c.A, c.b, 1, 1, 0.0f, &unc);
  WM_activity_regularizer(c.f, c.y, c.mu, c.T, c.A, c.b, 1, 1, 1e-3f, &cap);
  EXPECT_GT(unc.loss1_separate, 1e-3);
  EXPECT_NEAR(cap.loss1_separate, 1e-3, 1e-7);  // every pair is farther than the cap
  EXPECT_DOUBLE_EQ(cap.loss2, unc.loss2);
}

TEST(WmRegularizer, ErrorsNameTheProblem) {
  Case c(3);
  EXPECT_TRUE(throws_error([&] { WM_activity_regularizer(c.f, c.y, c.mu, {9}, c.A, c.b, 1, 1, 0); }, "class"));
  EXPECT_TRUE(throws_error([&] { WM_activity_regularizer(c.f, c.y, c.mu, {0, 1, 2, 3, 4}, c.A, c.b, 1, 1, 0); }, "choose"));
  EXPECT_TRUE(throws_error([&] { WM_activity_regularizer(c.f, c.y, c.mu.narrow_view(1, 0, 3), c.T, c.A, c.b, 1, 1, 0); }, "features"));
  Tensor f = c.f.clone().set_requires_grad(true);
  Tensor v = WM_activity_regularizer(f, c.y, c.mu, c.T, c.A, c.b, 1, 1, 0);
  EXPECT_TRUE(throws_error([&] { v.backward(Tensor(), /*create_graph=*/true); }, "second derivative"));
}

// Data parallelism: shares of one step, each weighted by its share of the samples as the trainer
// does, with WM_shard_correction added, give the whole batch's value and gradients; without the
// correction the attraction is weighted wrongly.
TEST(WmRegularizer, ShardCorrectionMakesTheWeightedSharesEqualTheWholeBatch) {
  for (uint64_t seed : {4, 5, 6}) {
    Case c(seed);
    const float l1 = 0.3f, l2 = 0.7f, margin = 3.0f;
    Tensor f = c.f.clone(), mu = c.mu.clone();
    f.set_requires_grad(true);
    mu.set_requires_grad(true);
    const Tensor whole = WM_activity_regularizer(f, c.y, mu, c.T, c.A, c.b, l1, l2, margin);
    whole.backward();
    const int64_t cut = 5;  // shares of 5 and 7 samples
    Tensor mu2 = c.mu.clone();
    mu2.set_requires_grad(true);
    Tensor total, total_plain;
    std::vector<Tensor> parts;
    for (const auto& [start, len] : {std::pair<int64_t, int64_t>{0, cut}, {cut, c.B - cut}}) {
      Tensor fr = narrow(c.f, 0, start, len).contiguous().clone();
      fr.set_requires_grad(true);
      parts.push_back(fr);
      const Tensor yr = narrow(c.y, 0, start, len).contiguous();
      const float w = static_cast<float>(len) / static_cast<float>(c.B);
      Tensor r = WM_activity_regularizer(fr, yr, mu2, c.T, c.A, c.b, l1, l2, margin);
      const Tensor plain = mul_scalar(r, w);
      const Tensor corr = WM_shard_correction(fr, yr, mu2, c.T, l1, c.y, c.B);
      if (corr.defined()) r = add(r, corr);
      const Tensor wr = mul_scalar(r, w);
      total = total.defined() ? add(total, wr) : wr;
      total_plain = total_plain.defined() ? add(total_plain, plain.detach()) : plain.detach();
    }
    EXPECT_NEAR(total.item(), whole.item(), 1e-4 * std::abs(whole.item()) + 1e-5) << "seed " << seed;
    total.backward();
    for (int64_t i = 0; i < mu.numel(); ++i) EXPECT_NEAR(mu2.grad().f32()[i], mu.grad().f32()[i], 1e-4) << i;
    for (int64_t n = 0; n < c.B; ++n)
      for (int64_t m = 0; m < c.M; ++m) {
        const Tensor& fr = n < cut ? parts[0] : parts[1];
        const int64_t row = n < cut ? n : n - cut;
        EXPECT_NEAR(fr.grad().f32()[row * c.M + m], f.grad().f32()[n * c.M + m], 1e-4) << n << "," << m;
      }
    // The plain weighted sum differs whenever the shares hold different counts of chosen samples.
    (void)total_plain;
  }
  // A whole batch gets no correction.
  Case c(7);
  EXPECT_FALSE(WM_shard_correction(c.f, c.y, c.mu, c.T, 0.3f, c.y, c.B).defined());
  EXPECT_FALSE(WM_shard_correction(c.f, c.y, c.mu, c.T, 0.3f, Tensor(), -1).defined());
}
