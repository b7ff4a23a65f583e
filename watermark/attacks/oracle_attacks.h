// Attacks on the verifier's queries and the answers of a deployed model, as Oracle wrappers
// (watermark/verify/oracle.h): the suspect's service perturbs what it receives or what it
// returns, and the black-box verifier (verify_output) is unchanged.
//
// Score oracles: an oracle may also answer with class scores (softmax probabilities, float32
// [n, C]; one-logit models: [n, 2] = (1 - sigmoid, sigmoid)) through Oracle::scores(), when
// has_scores() is true (LocalModelOracle does). labels() of a score-changing wrapper is the
// argmax of the changed scores (ties: the lowest class index), so rounding can flip labels.
//
//   InputNoiseOracle(inner, sigma, seed): adds N(0, sigma^2) to every input value (pixel units,
//     not clamped) before the inner oracle sees it.
//   ScoreRoundingOracle(inner, decimals): scores rounded to `decimals` decimal places (0 to 8;
//     beyond 8 a float32 score does not change).
//   ScorePerturbationOracle(inner, sigma, seed): adds N(0, sigma^2) to every score, then
//     clamps to [0, 1] and renormalises each row to sum 1 (a row clamped to all zeros becomes
//     uniform).
// The score wrappers need an inner oracle with scores (an Error at construction otherwise);
// sigma >= 0. Each wrapper counts its own queries; the inner oracle counts them again.
#pragma once
#include <memory>

#include "engine/rng.h"
#include "watermark/verify/oracle.h"

namespace signet {

class InputNoiseOracle final : public Oracle {
 public:
  InputNoiseOracle(std::shared_ptr<Oracle> inner, double sigma, uint64_t seed);
  std::string describe() const override;
  int64_t num_classes() const override { return inner_->num_classes(); }
  bool has_scores() const override { return inner_->has_scores(); }

 protected:
  Tensor answer(const Tensor& inputs) override;
  Tensor answer_scores(const Tensor& inputs) override;

 private:
  Tensor noisy(const Tensor& inputs);
  std::shared_ptr<Oracle> inner_;
  double sigma_;
  Rng rng_;
};

class ScoreRoundingOracle final : public Oracle {
 public:
  ScoreRoundingOracle(std::shared_ptr<Oracle> inner, int decimals);
  std::string describe() const override;
  int64_t num_classes() const override { return inner_->num_classes(); }
  bool has_scores() const override { return true; }

 protected:
  Tensor answer(const Tensor& inputs) override;         // argmax of the rounded scores
  Tensor answer_scores(const Tensor& inputs) override;  // rounded scores

 private:
  std::shared_ptr<Oracle> inner_;
  int decimals_;
};

class ScorePerturbationOracle final : public Oracle {
 public:
  ScorePerturbationOracle(std::shared_ptr<Oracle> inner, double sigma, uint64_t seed);
  std::string describe() const override;
  int64_t num_classes() const override { return inner_->num_classes(); }
  bool has_scores() const override { return true; }

 protected:
  Tensor answer(const Tensor& inputs) override;
  Tensor answer_scores(const Tensor& inputs) override;

 private:
  std::shared_ptr<Oracle> inner_;
  double sigma_;
  Rng rng_;
};

// An attacked service as `signet verify` and `signet serve` set it up: input noise (sigma > 0),
// then score perturbation (seed + 1), then rounding (decimals >= 0); each left out when off.
struct ServiceAttack {
  double query_noise = 0, perturb_scores = 0;
  int round_scores = -1;
  uint64_t seed = 1;
};
// Error naming the flags (--query-noise, --perturb-scores, --round-scores) when a value is out of range.
void check_service_attack(const ServiceAttack& a);
std::shared_ptr<Oracle> attacked_service(std::shared_ptr<Oracle> oracle, const ServiceAttack& a);

}  // namespace signet
