// Score oracles and the oracle-side attacks (watermark/attacks/oracle_attacks.h): scores of a
// local model, rounding, perturbation, input noise, and query counting through wrappers.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/ops.h"
#include "watermark/attacks/oracle_attacks.h"
#include "watermark/deepsigns/output.h"

using namespace signet;

namespace {
// Answers fixed scores (row i of `scores` for the i-th query) and records what it was asked.
class FixedScoreOracle final : public Oracle {
 public:
  explicit FixedScoreOracle(Tensor scores) : s_(std::move(scores)) {}
  std::string describe() const override { return "fixed scores"; }
  int64_t num_classes() const override { return s_.size(1); }
  bool has_scores() const override { return true; }
  Tensor seen;

 protected:
  Tensor answer(const Tensor& x) override { return argmax(answer_scores(x), 1).contiguous(); }
  Tensor answer_scores(const Tensor& x) override {
    seen = x.clone();
    return s_.narrow_view(0, 0, x.size(0)).clone();
  }

 private:
  Tensor s_;
};

Model mlp(int64_t classes, uint64_t seed) {
  ModelConfig mc;
  mc.num_classes = classes;
  Rng init(seed);
  return build_model("mnist-mlp", mc, init);
}

Tensor uniform_inputs(int64_t n, uint64_t seed) {
  Tensor x = Tensor::empty({n, 1, 28, 28});
  Rng rng(seed);
  for (int64_t i = 0; i < x.numel(); ++i) x.f32()[i] = static_cast<float>(rng.uniform());
  return x;
}

std::shared_ptr<LocalModelOracle> local(int64_t classes = 10, uint64_t seed = 1) {
  return std::make_shared<LocalModelOracle>(mlp(classes, seed), Normalization{{0.5f}, {0.25f}}, "local");
}
}  // namespace

TEST(ScoreOracles, LocalModelScoresAreTheSoftmaxAndAgreeWithTheLabels) {
  auto o = local();
  const Tensor x = uniform_inputs(12, 1);
  ASSERT_TRUE(o->has_scores());
  const Tensor s = o->scores(x);
  EXPECT_EQ(s.shape(), (Shape{12, 10}));
  EXPECT_EQ(o->queries(), 12);
  const Tensor y = o->labels(x);
  EXPECT_EQ(o->queries(), 24);
  for (int64_t r = 0; r < 12; ++r) {
    double total = 0;
    int64_t best = 0;
    for (int64_t c = 0; c < 10; ++c) {
      total += s.f32()[r * 10 + c];
      if (s.f32()[r * 10 + c] > s.f32()[r * 10 + best]) best = c;
    }
    EXPECT_NEAR(total, 1.0, 1e-5);
    EXPECT_EQ(best, y.i64()[r]);
  }
  // The softmax of the logits themselves.
  Model m = o->model();
  const Tensor logits = predict(m, normalise_inputs(x, Normalization{{0.5f}, {0.25f}}));
  const Tensor want = softmax(logits, 1);
  for (int64_t i = 0; i < want.numel(); ++i) EXPECT_NEAR(s.f32()[i], want.f32()[i], 1e-6);
  EXPECT_THROW(o->scores(Tensor::zeros({2, 1, 5, 5})), Error);  // wrong input shape
}

TEST(ScoreOracles, OneLogitModelsScoreOneMinusSigmoidAndSigmoid) {
  auto o = local(1, 3);  // a one-logit head: class 1 when the logit is > 0
  const Tensor x = uniform_inputs(6, 2);
  const Tensor s = o->scores(x);
  ASSERT_EQ(s.shape(), (Shape{6, 2}));
  Model m = o->model();
  const Tensor logits = predict(m, normalise_inputs(x, Normalization{{0.5f}, {0.25f}})).contiguous();
  const Tensor y = o->labels(x);
  for (int64_t r = 0; r < 6; ++r) {
    const double p1 = 1 / (1 + std::exp(-double(logits.f32()[r])));
    EXPECT_NEAR(s.f32()[2 * r + 1], p1, 1e-6);
    EXPECT_NEAR(s.f32()[2 * r] + s.f32()[2 * r + 1], 1.0, 1e-6);
    EXPECT_EQ(y.i64()[r], s.f32()[2 * r + 1] > 0.5f ? 1 : 0);
  }
}

TEST(ScoreOracles, LabelOnlyOraclesRefuseScores) {
  auto noisy = std::make_shared<NoisyLabelOracle>(local(), 0.1, 1);
  EXPECT_FALSE(noisy->has_scores());
  try {
    noisy->scores(uniform_inputs(2, 1));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("labels only"), std::string::npos) << e.what();
  }
  EXPECT_EQ(noisy->queries(), 0);
  EXPECT_THROW(ScoreRoundingOracle(noisy, 2), Error);
  EXPECT_THROW(ScorePerturbationOracle(noisy, 0.1, 1), Error);
  EXPECT_FALSE(InputNoiseOracle(noisy, 0.1, 1).has_scores());
}

TEST(ScoreOracles, RoundingGivesMultiplesOfTenToTheMinusDAndCanFlipLabels) {
  auto inner = local(10, 4);
  const Tensor x = uniform_inputs(20, 3);
  const Tensor exact = inner->scores(x);
  for (int d : {0, 1, 2, 4}) {
    ScoreRoundingOracle o(inner, d);
    EXPECT_TRUE(o.has_scores());
    const Tensor s = o.scores(x);
    const double scale = std::pow(10.0, d);
    for (int64_t i = 0; i < s.numel(); ++i) {
      const double v = s.f32()[i] * scale;
      EXPECT_NEAR(v, std::round(v), 1e-3 * std::max(1.0, scale / 1e3)) << "d=" << d;
      EXPECT_LE(std::fabs(double(s.f32()[i]) - exact.f32()[i]), 0.5 / scale + 1e-6) << "d=" << d;
    }
    EXPECT_EQ(o.queries(), 20);
  }
  // Ties after rounding go to the lowest class: [0.36, 0.44, 0.2] -> [0.4, 0.4, 0.2] -> class 0.
  auto fixed = std::make_shared<FixedScoreOracle>(Tensor::from_vector({0.36f, 0.44f, 0.2f, 0.1f, 0.14f, 0.76f}, {2, 3}));
  ScoreRoundingOracle r1(fixed, 1);
  EXPECT_EQ(fixed->labels(Tensor::zeros({2, 1})).to_vector_i64(), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(r1.labels(Tensor::zeros({2, 1})).to_vector_i64(), (std::vector<int64_t>{0, 2}));
  EXPECT_EQ(r1.scores(Tensor::zeros({2, 1})).to_vector(), (std::vector<float>{0.4f, 0.4f, 0.2f, 0.1f, 0.1f, 0.8f}));
  EXPECT_THROW(ScoreRoundingOracle(fixed, -1), Error);
}

TEST(ScoreOracles, PerturbationKeepsRowsOnTheSimplexAndIsSeeded) {
  auto inner = local(10, 5);
  const Tensor x = uniform_inputs(30, 4);
  const Tensor exact = inner->scores(x);
  ScorePerturbationOracle o(inner, 0.05, 7);
  const Tensor s = o.scores(x);
  double moved = 0;
  for (int64_t r = 0; r < 30; ++r) {
    double total = 0;
    for (int64_t c = 0; c < 10; ++c) {
      const float v = s.f32()[r * 10 + c];
      EXPECT_GE(v, 0.0f);
      EXPECT_LE(v, 1.0f);
      total += v;
      moved += std::fabs(v - exact.f32()[r * 10 + c]);
    }
    EXPECT_NEAR(total, 1.0, 1e-5);
  }
  EXPECT_GT(moved / 300, 0.01);
  // The same seed answers the same; labels are the argmax of the perturbed scores.
  ScorePerturbationOracle again(inner, 0.05, 7), labels(inner, 0.05, 7);
  EXPECT_EQ(again.scores(x).to_vector(), s.to_vector());
  EXPECT_EQ(labels.labels(x).to_vector_i64(), argmax(s, 1).to_vector_i64());
  // sigma = 0 changes nothing.
  ScorePerturbationOracle none(inner, 0.0, 1);
  const Tensor s0 = none.scores(x);
  for (int64_t i = 0; i < s0.numel(); ++i) EXPECT_NEAR(s0.f32()[i], exact.f32()[i], 1e-6);
  // Huge noise clamps every score of some rows to 0: those rows become uniform, still summing to 1.
  ScorePerturbationOracle wild(inner, 100.0, 2);
  const Tensor sw = wild.scores(x);
  for (int64_t r = 0; r < 30; ++r) {
    double total = 0;
    for (int64_t c = 0; c < 10; ++c) total += sw.f32()[r * 10 + c];
    EXPECT_NEAR(total, 1.0, 1e-5);
  }
  EXPECT_THROW(ScorePerturbationOracle(inner, -1, 1), Error);
}

TEST(ScoreOracles, InputNoiseHasTheRightStdAndCountsQueries) {
  const int64_t n = 50;
  auto fixed = std::make_shared<FixedScoreOracle>(Tensor::full({n, 3}, 1.0f / 3));
  const Tensor x = uniform_inputs(n, 6);
  InputNoiseOracle o(fixed, 0.1, 3);
  EXPECT_TRUE(o.has_scores());
  o.labels(x);
  ASSERT_TRUE(fixed->seen.defined());
  double sum = 0, sq = 0;
  const int64_t N = x.numel();
  for (int64_t i = 0; i < N; ++i) {
    const double d = double(fixed->seen.f32()[i]) - x.f32()[i];
    sum += d;
    sq += d * d;
  }
  const double mean = sum / N, stddev = std::sqrt(sq / N - mean * mean);
  EXPECT_NEAR(mean, 0.0, 0.002);               // 39,200 draws: the mean's std is 0.0005
  EXPECT_NEAR(stddev, 0.1, 0.003);
  const Tensor first = fixed->seen;
  o.scores(x);                                   // fresh noise on every query
  EXPECT_NE(fixed->seen.to_vector(), first.to_vector());
  EXPECT_EQ(o.queries(), 2 * n);
  EXPECT_EQ(fixed->queries(), 2 * n);
  InputNoiseOracle clean(fixed, 0.0, 1);
  clean.labels(x);
  EXPECT_EQ(fixed->seen.to_vector(), x.to_vector());
  EXPECT_THROW(InputNoiseOracle(fixed, -0.5, 1), Error);
}

TEST(ScoreOracles, WrappersComposeWithTheVerifier) {
  // The black-box verifier runs unchanged through any wrapper: a clean model queried through
  // rounding to 6 decimals answers its own predictions as keys.
  auto inner = local(10, 9);
  OutputKeys keys;
  keys.key_inputs = uniform_inputs(10, 8);
  keys.key_labels = inner->labels(keys.key_inputs);
  keys.num_classes = 10;
  keys.confidence = 0.999;
  auto rounded = std::make_shared<ScoreRoundingOracle>(inner, 6);
  InputNoiseOracle both(rounded, 0.0, 1);
  const OutputEvidence ev = verify_output(both, keys);
  EXPECT_EQ(ev.mismatches, 0);
  EXPECT_TRUE(ev.detected);
  EXPECT_EQ(both.queries(), 10);
  EXPECT_EQ(rounded->queries(), 10);
}
