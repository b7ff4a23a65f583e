#include "watermark/attacks/oracle_attacks.h"

#include <algorithm>
#include <cmath>

#include "engine/ops.h"

namespace signet {

namespace {
// argmax of each row of scores [n, C]; ties go to the lowest class index, so a rounding that
// makes two classes equal picks the same answer every time.
Tensor argmax_lowest(const Tensor& scores) {
  const Tensor s = scores.contiguous();
  const int64_t n = s.size(0), C = s.size(1);
  Tensor y = Tensor::empty({n}, DType::I64);
  for (int64_t r = 0; r < n; ++r) {
    const float* row = s.f32() + r * C;
    int64_t best = 0;
    for (int64_t c = 1; c < C; ++c)
      if (row[c] > row[best]) best = c;
    y.i64()[r] = best;
  }
  return y;
}

void require_scores(const Oracle& inner, const char* wrapper) {
  SIGNET_CHECK(inner.has_scores(), "{} changes class scores, but oracle {} answers with labels only", wrapper,
               inner.describe());
}
}  // namespace

// ------------------------------------------------------------------ input noise
InputNoiseOracle::InputNoiseOracle(std::shared_ptr<Oracle> inner, double sigma, uint64_t seed)
    : inner_(std::move(inner)), sigma_(sigma), rng_(seed) {
  SIGNET_CHECK(inner_ != nullptr, "InputNoiseOracle needs an oracle to wrap");
  SIGNET_CHECK(std::isfinite(sigma_) && sigma_ >= 0, "the input noise sigma must be >= 0, got {}", sigma_);
}

std::string InputNoiseOracle::describe() const {
  return fmt::format("{} (inputs + N(0, {}^2))", inner_->describe(), sigma_);
}

Tensor InputNoiseOracle::noisy(const Tensor& inputs) {
  Tensor x = inputs.clone();
  float* p = x.f32();
  for (int64_t i = 0, n = x.numel(); i < n; ++i) p[i] += static_cast<float>(sigma_ * rng_.normal());
  return x;
}

Tensor InputNoiseOracle::answer(const Tensor& inputs) { return inner_->labels(noisy(inputs)); }

Tensor InputNoiseOracle::answer_scores(const Tensor& inputs) { return inner_->scores(noisy(inputs)); }

// ------------------------------------------------------------------ score rounding
ScoreRoundingOracle::ScoreRoundingOracle(std::shared_ptr<Oracle> inner, int decimals)
    : inner_(std::move(inner)), decimals_(decimals) {
  SIGNET_CHECK(inner_ != nullptr, "ScoreRoundingOracle needs an oracle to wrap");
  // Beyond 8 decimals float32 scores are not changed by rounding any more.
  SIGNET_CHECK(decimals_ >= 0 && decimals_ <= 8, "score rounding takes 0 to 8 decimals, got {}", decimals_);
  require_scores(*inner_, "ScoreRoundingOracle");
}

std::string ScoreRoundingOracle::describe() const {
  return fmt::format("{} (scores rounded to {} decimals)", inner_->describe(), decimals_);
}

Tensor ScoreRoundingOracle::answer_scores(const Tensor& inputs) {
  Tensor s = inner_->scores(inputs).clone();
  const double scale = std::pow(10.0, decimals_);
  float* p = s.f32();
  for (int64_t i = 0, n = s.numel(); i < n; ++i) p[i] = static_cast<float>(std::round(p[i] * scale) / scale);
  return s;
}

Tensor ScoreRoundingOracle::answer(const Tensor& inputs) { return argmax_lowest(answer_scores(inputs)); }

// ------------------------------------------------------------------ score perturbation
ScorePerturbationOracle::ScorePerturbationOracle(std::shared_ptr<Oracle> inner, double sigma, uint64_t seed)
    : inner_(std::move(inner)), sigma_(sigma), rng_(seed) {
  SIGNET_CHECK(inner_ != nullptr, "ScorePerturbationOracle needs an oracle to wrap");
  SIGNET_CHECK(std::isfinite(sigma_) && sigma_ >= 0, "the score noise sigma must be >= 0, got {}", sigma_);
  require_scores(*inner_, "ScorePerturbationOracle");
}

std::string ScorePerturbationOracle::describe() const {
  return fmt::format("{} (scores + N(0, {}^2), clamped and renormalised)", inner_->describe(), sigma_);
}

Tensor ScorePerturbationOracle::answer_scores(const Tensor& inputs) {
  Tensor s = inner_->scores(inputs).clone();
  const int64_t n = s.size(0), C = s.size(1);
  for (int64_t r = 0; r < n; ++r) {
    float* row = s.f32() + r * C;
    double total = 0;
    for (int64_t c = 0; c < C; ++c) {
      row[c] = static_cast<float>(std::clamp(row[c] + sigma_ * rng_.normal(), 0.0, 1.0));
      total += row[c];
    }
    // Every score clamped to 0 (possible only for large sigma): the service answers a uniform row.
    for (int64_t c = 0; c < C; ++c)
      row[c] = total > 0 ? static_cast<float>(row[c] / total) : 1.0f / static_cast<float>(C);
  }
  return s;
}

Tensor ScorePerturbationOracle::answer(const Tensor& inputs) { return argmax_lowest(answer_scores(inputs)); }

// ------------------------------------------------------------------ a service's attacks together
void check_service_attack(const ServiceAttack& a) {
  SIGNET_CHECK(std::isfinite(a.query_noise) && a.query_noise >= 0, "--query-noise must be >= 0, got {}", a.query_noise);
  SIGNET_CHECK(std::isfinite(a.perturb_scores) && a.perturb_scores >= 0, "--perturb-scores must be >= 0, got {}",
               a.perturb_scores);
  SIGNET_CHECK(a.round_scores == -1 || (a.round_scores >= 0 && a.round_scores <= 8),
               "--round-scores must be between 0 and 8 decimals, got {}", a.round_scores);
}

std::shared_ptr<Oracle> attacked_service(std::shared_ptr<Oracle> oracle, const ServiceAttack& a) {
  check_service_attack(a);
  if (a.query_noise > 0) oracle = std::make_shared<InputNoiseOracle>(oracle, a.query_noise, a.seed);
  if (a.perturb_scores > 0) oracle = std::make_shared<ScorePerturbationOracle>(oracle, a.perturb_scores, a.seed + 1);
  if (a.round_scores >= 0) oracle = std::make_shared<ScoreRoundingOracle>(oracle, a.round_scores);
  return oracle;
}

}  // namespace signet
