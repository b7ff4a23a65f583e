// Module: the unit models are built from (PyTorch's nn.Module, reduced to what Signet needs).
//
// A module owns named parameters (trainable tensors) and buffers (state such as BatchNorm's
// running statistics), and named child modules. Full names join the path with dots
// ("fc1.weight", "features.0.weight"), matching PyTorch's state_dict, so weights move between
// the two unchanged.
//
// Activation taps: `module(x, &taps)` runs forward and, for every module whose full path is in
// taps.wanted, stores its output under that path. The stored tensor is the activation itself
// (no copy) and stays part of the autograd graph, so a watermark regularizer can be applied to
// it. A tap name nobody produced is an Error after the forward pass (see Taps::require).
#pragma once
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "engine/rng.h"
#include "engine/tensor.h"

namespace signet {

struct Taps {
  std::set<std::string> wanted;
  std::map<std::string, Tensor> got;
  bool all = false;  // record every module's output (for listing layer names)
  bool wants(const std::string& path) const { return all || wanted.count(path) > 0; }
  // The activation stored under `path`, or an Error listing the names that exist.
  const Tensor& require(const std::string& path) const;
};

using NamedTensorList = std::vector<std::pair<std::string, Tensor>>;

class Module {
 public:
  virtual ~Module() = default;
  virtual std::string type_name() const = 0;

  // Runs forward() and records the output as a tap when asked for.
  Tensor operator()(const Tensor& x, Taps* taps = nullptr);

  NamedTensorList named_parameters() const;  // recursive, full names, registration order
  NamedTensorList named_buffers() const;
  std::vector<Tensor> parameters() const;
  std::vector<std::pair<std::string, Module*>> named_modules();  // includes this as ""
  int64_t num_parameters() const;

  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  void zero_grad();
  // Moves every parameter and buffer to `d` (new tensors there: make optimizers afterwards);
  // device(): where the parameters are (the CPU for a module without any).
  void to(const Device& d);
  Device device() const;

  // Sets this module's full path and its children's (the model builder calls it once).
  void assign_paths(const std::string& prefix = "");
  const std::string& path() const { return path_; }
  // The generator used by stochastic layers (dropout); shared by the whole model.
  void set_rng(std::shared_ptr<Rng> rng);

 protected:
  virtual Tensor forward(const Tensor& x, Taps* taps) = 0;
  Tensor& register_parameter(const std::string& name, Tensor t);
  Tensor& register_buffer(const std::string& name, Tensor t);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    children_.emplace_back(name, m);
    return m;
  }
  Rng& rng();

  bool training_ = true;
  std::string path_;
  std::vector<std::pair<std::string, Tensor>> params_, buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  std::shared_ptr<Rng> rng_;
};

// Copies tensors by full name into a module's parameters and buffers. Every parameter and
// buffer must be present with the same shape; unknown names are an Error unless allow_extra.
// `source` names the file in messages.
void load_state_dict(Module& m, const NamedTensorList& state, const std::string& source,
                     bool allow_extra = false);
NamedTensorList state_dict(const Module& m);  // parameters then buffers, full names

}  // namespace signet
