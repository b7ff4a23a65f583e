// Optimizers, with PyTorch 1.13's exact update rules (the golden test checks them), and
// learning-rate schedules.
//
// SGD:   g = grad + wd p;  buf = g (first step) | momentum buf + (1 - dampening) g;
//        g = nesterov ? g + momentum buf : buf;  p -= lr g
// Adam:  g = grad + wd p;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
//        p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// AdamW: p *= 1 - lr wd, then Adam with no L2 term.
// State (momentum buffers, moments, step count) can be saved to / restored from named tensors
// so that a checkpointed run resumes exactly.
#pragma once
#include <memory>
#include <string>

#include "layers/module.h"

namespace signet {

class Optimizer {
 public:
  Optimizer(NamedTensorList params, float lr) : params_(std::move(params)), lr_(lr) {}
  virtual ~Optimizer() = default;
  virtual void step() = 0;  // parameters without a gradient are skipped
  virtual std::string name() const = 0;
  void zero_grad();
  float lr() const { return lr_; }
  void set_lr(float lr) { lr_ = lr; }
  // State as named tensors ("<kind>.<param name>") plus the step counter.
  virtual NamedTensorList state() const = 0;
  virtual void load_state(const NamedTensorList& state, const std::string& source) = 0;
  int64_t steps() const { return step_; }

 protected:
  NamedTensorList params_;
  float lr_;
  int64_t step_ = 0;
};

struct SgdOptions { float lr = 0.01f, momentum = 0.0f, dampening = 0.0f, weight_decay = 0.0f; bool nesterov = false; };
struct AdamOptions { float lr = 1e-3f, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f, weight_decay = 0.0f; bool decoupled = false; };

class SGD : public Optimizer {
 public:
  SGD(NamedTensorList params, SgdOptions o);
  void step() override;
  std::string name() const override { return "sgd"; }
  NamedTensorList state() const override;
  void load_state(const NamedTensorList& state, const std::string& source) override;

 private:
  SgdOptions o_;
  std::vector<Tensor> buf_;  // momentum buffers (undefined until the first step)
};

class Adam : public Optimizer {  // AdamW when options.decoupled
 public:
  Adam(NamedTensorList params, AdamOptions o);
  void step() override;
  std::string name() const override { return o_.decoupled ? "adamw" : "adam"; }
  NamedTensorList state() const override;
  void load_state(const NamedTensorList& state, const std::string& source) override;

 private:
  AdamOptions o_;
  std::vector<Tensor> m_, v_;
};

// Builds "sgd" | "adam" | "adamw" from common flags; unknown names are an Error.
std::unique_ptr<Optimizer> make_optimizer(const std::string& name, NamedTensorList params, float lr,
                                          float momentum, float weight_decay, bool nesterov);

// Learning rate as a function of the global step (0-based) out of total_steps.
//   constant: lr;  step: lr * gamma^floor(step / step_size);
//   cosine: eta_min + (lr - eta_min) (1 + cos(pi step / total_steps)) / 2  (per step, no restarts)
// warmup_steps W > 0 multiplies the first W steps' rate by (step + 1) / W (linear warm-up): a net
// without normalisation layers at a high rate can diverge in its first hundred steps otherwise.
struct LrSchedule {
  std::string kind = "constant";
  float base_lr = 0.01f, gamma = 0.1f, eta_min = 0.0f;
  int64_t step_size = 1, total_steps = 1, warmup_steps = 0;
  float at(int64_t step) const;
};
LrSchedule make_schedule(const std::string& kind, float base_lr, int64_t total_steps, int64_t step_size = 0, float gamma = 0.1f);

}  // namespace signet
