// Oracles: what a verifier may see of a suspect model. Black-box label oracles answer a batch of
// inputs with one predicted class each, and nothing else: the DeepSigns output-layer watermark
// (and any trigger-set scheme) is verified through this interface alone.
//
// Inputs are what a client of a deployed model would send: float32 [n, C, H, W] pixels in the
// data set's range [0, 1], NOT normalised. The oracle (the service) applies its own input
// preprocessing; a local model file carries its normalisation in its metadata.
//
// Oracle::labels(x) -> int64 [n]. queries() counts the inputs answered so far (the cost a remote
// verifier pays). Oracles compose by wrapping: NoisyLabelOracle wraps any oracle and replaces
// each answer by a uniformly random class with probability q (a service that randomises some
// answers); a remote (HTTP) oracle would be one more subclass, with no change to the verifier.
//
// Score oracles: an oracle may also answer with class scores through scores(x) -> float32 [n, C]
// (softmax probabilities; one-logit models: [n, 2] = (1 - sigmoid, sigmoid)) when has_scores()
// is true. scores() checks the shape and counts queries exactly like labels(); an oracle that
// returns labels only answers scores() with an Error. LocalModelOracle has scores; the score
// attacks (rounding, perturbation, input noise) are wrappers in watermark/attacks/oracle_attacks.h.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "engine/rng.h"
#include "models/model_io.h"

namespace signet {

class Oracle {
 public:
  virtual ~Oracle() = default;
  Tensor labels(const Tensor& inputs);  // checks the shape, counts, then answer()
  // Class scores float32 [n, C'] (C' = num_classes(), or 2 for one-logit models); checks the
  // shape, counts, then answer_scores(). Error when !has_scores().
  Tensor scores(const Tensor& inputs);
  virtual bool has_scores() const { return false; }
  virtual std::string describe() const = 0;
  virtual int64_t num_classes() const = 0;
  int64_t queries() const { return queries_; }

 protected:
  virtual Tensor answer(const Tensor& inputs) = 0;  // int64 [n]
  // float32 [n, C']; the default says this oracle answers with labels only.
  virtual Tensor answer_scores(const Tensor& inputs);

 private:
  // Error unless inputs are float32 [n, ...] (the message names this oracle).
  void check_queries(const Tensor& inputs) const;
  int64_t queries_ = 0;
};

// A model file on disk, queried as a black box (argmax of the logits; logit > 0 for one-logit
// models). The model is built from the file's own metadata (any architecture in the registry);
// `model` names it for files without Signet metadata (e.g. PyTorch's), with fallback_config,
// and is checked against the file otherwise (empty: any). Its input normalisation comes from the
// file, else `fallback_norm`.
class LocalModelOracle final : public Oracle {
 public:
  LocalModelOracle(const std::string& path, const Normalization& fallback_norm, const std::string& model = "",
                   const ModelConfig* fallback_config = nullptr, int64_t batch = 500);
  LocalModelOracle(Model model, Normalization norm, std::string label, int64_t batch = 500);
  std::string describe() const override { return label_; }
  int64_t num_classes() const override { return model_.config.num_classes; }
  bool has_scores() const override { return true; }
  const Model& model() const { return model_; }

 protected:
  Tensor answer(const Tensor& inputs) override;
  Tensor answer_scores(const Tensor& inputs) override;  // softmax (one logit: 1 - sigmoid, sigmoid)

 private:
  Tensor logits(const Tensor& inputs);  // checks the input shape, batches, normalises
  Model model_;
  Normalization norm_;
  std::string label_;
  int64_t batch_;
};

class NoisyLabelOracle final : public Oracle {
 public:
  NoisyLabelOracle(std::shared_ptr<Oracle> inner, double flip_probability, uint64_t seed);
  std::string describe() const override;
  int64_t num_classes() const override { return inner_->num_classes(); }

 protected:
  Tensor answer(const Tensor& inputs) override;

 private:
  std::shared_ptr<Oracle> inner_;
  double q_;
  Rng rng_;
};

}  // namespace signet
