// The basic layers.
//
// Linear(in, out, bias): y = x W^T + b, W [out, in], b [out]; PyTorch's default initialisation
//   (W and b uniform in +-1/sqrt(in)), drawn from the given Rng. Input [B, in].
// ReLU: max(x, 0). Flatten: [N, d1, d2, ...] -> [N, d1*d2*...].
// Dropout(p): inverted dropout in training, identity in eval; draws from the module's Rng.
// Sequential: children applied in order, named by the caller ("fc1", "relu1", ...).
#pragma once
#include "layers/module.h"

namespace signet {

class Linear : public Module {
 public:
  Linear(int64_t in, int64_t out, bool bias, Rng& init_rng);
  std::string type_name() const override { return "Linear"; }
  Tensor& weight() { return params_[0].second; }
  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }

 protected:
  Tensor forward(const Tensor& x, Taps* taps) override;

 private:
  int64_t in_, out_;
  bool has_bias_;
};

class ReLU : public Module {
 public:
  std::string type_name() const override { return "ReLU"; }
 protected:
  Tensor forward(const Tensor& x, Taps* taps) override;
};

class Flatten : public Module {
 public:
  std::string type_name() const override { return "Flatten"; }
 protected:
  Tensor forward(const Tensor& x, Taps* taps) override;
};

class Dropout : public Module {
 public:
  explicit Dropout(float p);
  std::string type_name() const override { return "Dropout"; }
 protected:
  Tensor forward(const Tensor& x, Taps* taps) override;
 private:
  float p_;
};

// relu(a + b) as `relu` would compute it on the sum, in one op (add_relu); relu's tap, when
// wanted, is the result, and the profiler counts the op under relu's row.
Tensor add_then_relu(Module& relu, const Tensor& a, const Tensor& b, Taps* taps);

class Sequential : public Module {
 public:
  explicit Sequential(std::string type = "Sequential") : type_(std::move(type)) {}
  std::string type_name() const override { return type_; }
  Sequential& add(const std::string& name, std::shared_ptr<Module> m);

 protected:
  Tensor forward(const Tensor& x, Taps* taps) override;

 private:
  std::string type_;
};

}  // namespace signet
