#include "layers/optim.h"

#include <cmath>
#include <map>

#include "engine/autograd.h"
#include "engine/cpu/optim_cpu.h"
#include "engine/cuda/runtime.h"
#include "engine/ops/dispatch.h"

namespace signet {

void Optimizer::zero_grad() {
  for (auto& [n, p] : params_) p.zero_grad();
}

// ------------------------------------------------------------------ SGD
SGD::SGD(NamedTensorList params, SgdOptions o) : Optimizer(std::move(params), o.lr), o_(o) {
  SIGNET_CHECK(o.lr >= 0 && o.momentum >= 0 && o.weight_decay >= 0, "sgd: lr, momentum and weight decay must be >= 0");
  SIGNET_CHECK(!o.nesterov || (o.momentum > 0 && o.dampening == 0), "sgd: Nesterov needs momentum > 0 and no dampening");
  buf_.resize(params_.size());
}

void SGD::step() {
  NoGradGuard ng;
  ++step_;
  const float lr = lr_, mom = o_.momentum, damp = o_.dampening, wd = o_.weight_decay;
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor& p = params_[i].second;
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    const int64_t n = p.numel();
    if (p.device().is_cuda()) {  // the fused kernel of the parameter's device, same formulas
      const Tensor gc = g.contiguous();
      const bool first = mom != 0.0f && !buf_[i].defined();
      if (first) buf_[i] = Tensor::empty(p.shape(), DType::F32, p.device());
      cuda::kernels(p.device()).sgd_step(p.device_f32(), gc.device_f32(), mom != 0.0f ? buf_[i].device_f32() : nullptr,
                                         lr, mom, damp, wd, o_.nesterov, first, n, nullptr);
      continue;
    }
    const Tensor gc = g.contiguous();
    const bool first = mom != 0.0f && !buf_[i].defined();
    if (first) buf_[i] = Tensor::empty(p.shape());
    cpu::sgd_step(p.f32(), gc.f32(), mom != 0.0f ? buf_[i].f32() : nullptr, lr, mom, damp, wd, o_.nesterov, first, n);
  }
}

NamedTensorList SGD::state() const {
  NamedTensorList s;
  s.emplace_back("step", Tensor::from_vector_i64({step_}, {1}));
  for (size_t i = 0; i < params_.size(); ++i)
    if (buf_[i].defined()) s.emplace_back("momentum." + params_[i].first, buf_[i]);
  return s;
}

static std::map<std::string, Tensor> by_name(const NamedTensorList& l) {
  std::map<std::string, Tensor> named;
  for (auto& [n, t] : l) named[n] = t;
  return named;
}

static Tensor restore(const std::map<std::string, Tensor>& st, const std::string& key, const Tensor& like,
                      const std::string& source) {
  auto it = st.find(key);
  if (it == st.end()) return Tensor();
  SIGNET_CHECK(it->second.shape() == like.shape(), "{}: optimizer state '{}' has shape {}, expected {}", source, key,
               shape_str(it->second.shape()), shape_str(like.shape()));
  SIGNET_CHECK(it->second.dtype() == like.dtype(), "{}: optimizer state '{}' is {}, expected {}", source, key,
               dtype_name(it->second.dtype()), dtype_name(like.dtype()));
  return it->second.clone();
}

static int64_t restore_step(const std::map<std::string, Tensor>& st, const std::string& source) {
  auto it = st.find("step");
  SIGNET_CHECK(it != st.end() && it->second.dtype() == DType::I64 && it->second.numel() == 1,
               "{}: optimizer state has no step counter", source);
  return it->second.i64()[0];
}

void SGD::load_state(const NamedTensorList& state, const std::string& source) {
  const auto st = by_name(state);
  step_ = restore_step(st, source);
  for (size_t i = 0; i < params_.size(); ++i)
    buf_[i] = restore(st, "momentum." + params_[i].first, params_[i].second, source);
}

// ------------------------------------------------------------------ Adam / AdamW
Adam::Adam(NamedTensorList params, AdamOptions o) : Optimizer(std::move(params), o.lr), o_(o) {
  SIGNET_CHECK(o.lr >= 0 && o.eps >= 0 && o.weight_decay >= 0, "adam: lr, eps and weight decay must be >= 0");
  SIGNET_CHECK(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1, "adam: betas must be in [0, 1)");
  m_.resize(params_.size());
  v_.resize(params_.size());
}

void Adam::step() {
  NoGradGuard ng;
  ++step_;
  const float lr = lr_, b1 = o_.beta1, b2 = o_.beta2, eps = o_.eps, wd = o_.weight_decay;
  const float bc1 = 1.0f - static_cast<float>(std::pow(static_cast<double>(b1), static_cast<double>(step_)));
  const float bc2 = 1.0f - static_cast<float>(std::pow(static_cast<double>(b2), static_cast<double>(step_)));
  const float step_size = lr / bc1, sqrt_bc2 = std::sqrt(bc2);
  const bool decoupled = o_.decoupled;
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor& p = params_[i].second;
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    if (!m_[i].defined()) {  // zeros, made on the host once and moved to the parameter's device
      m_[i] = Tensor::zeros(p.shape()).to(p.device());
      v_[i] = Tensor::zeros(p.shape()).to(p.device());
    }
    if (p.device().is_cuda()) {
      const Tensor gc = g.contiguous();
      cuda::kernels(p.device()).adam_step(p.device_f32(), gc.device_f32(), m_[i].device_f32(), v_[i].device_f32(), lr,
                                          b1, b2, eps, wd, decoupled, step_size, sqrt_bc2, p.numel(), nullptr);
      continue;
    }
    const Tensor gc = g.contiguous();
    cpu::adam_step(p.f32(), gc.f32(), m_[i].f32(), v_[i].f32(), lr, b1, b2, eps, wd, decoupled, step_size, sqrt_bc2,
                   p.numel());
  }
}

NamedTensorList Adam::state() const {
  NamedTensorList s;
  s.emplace_back("step", Tensor::from_vector_i64({step_}, {1}));
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!m_[i].defined()) continue;
    s.emplace_back("exp_avg." + params_[i].first, m_[i]);
    s.emplace_back("exp_avg_sq." + params_[i].first, v_[i]);
  }
  return s;
}

void Adam::load_state(const NamedTensorList& state, const std::string& source) {
  const auto st = by_name(state);
  step_ = restore_step(st, source);
  for (size_t i = 0; i < params_.size(); ++i) {
    m_[i] = restore(st, "exp_avg." + params_[i].first, params_[i].second, source);
    v_[i] = restore(st, "exp_avg_sq." + params_[i].first, params_[i].second, source);
    SIGNET_CHECK(m_[i].defined() == v_[i].defined(), "{}: incomplete Adam state for '{}'", source, params_[i].first);
  }
}

std::unique_ptr<Optimizer> make_optimizer(const std::string& name, NamedTensorList params, float lr,
                                          float momentum, float weight_decay, bool nesterov) {
  if (name == "sgd") {
    SgdOptions o;
    o.lr = lr; o.momentum = momentum; o.weight_decay = weight_decay; o.nesterov = nesterov;
    return std::make_unique<SGD>(std::move(params), o);
  }
  if (name == "adam" || name == "adamw") {
    AdamOptions o;
    o.lr = lr; o.weight_decay = weight_decay; o.decoupled = name == "adamw";
    return std::make_unique<Adam>(std::move(params), o);
  }
  throw Error(fmt::format("unknown optimizer '{}' (choose sgd, adam or adamw)", name));
}

// ------------------------------------------------------------------ schedules
static float schedule_rate(const LrSchedule& s, int64_t step) {
  if (s.kind == "constant") return s.base_lr;
  if (s.kind == "step") return s.base_lr * std::pow(s.gamma, static_cast<float>(step / std::max<int64_t>(s.step_size, 1)));
  const double t = std::min<double>(1.0, static_cast<double>(step) / std::max<int64_t>(s.total_steps, 1));
  return static_cast<float>(s.eta_min + (s.base_lr - s.eta_min) * 0.5 * (1.0 + std::cos(M_PI * t)));
}

float LrSchedule::at(int64_t step) const {
  const float lr = schedule_rate(*this, step);
  if (step >= warmup_steps) return lr;
  return lr * static_cast<float>(step + 1) / static_cast<float>(warmup_steps);
}

LrSchedule make_schedule(const std::string& kind, float base_lr, int64_t total_steps, int64_t step_size, float gamma) {
  SIGNET_CHECK(kind == "constant" || kind == "step" || kind == "cosine",
               "unknown learning-rate schedule '{}' (choose constant, step or cosine)", kind);
  LrSchedule s;
  s.kind = kind;
  s.base_lr = base_lr;
  s.total_steps = total_steps;
  s.step_size = step_size > 0 ? step_size : std::max<int64_t>(total_steps / 3, 1);
  s.gamma = gamma;
  return s;
}

}  // namespace signet
