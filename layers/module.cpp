#include "layers/module.h"

#include <map>

#include "engine/autograd.h"
#include "engine/profiler.h"

namespace signet {

const Tensor& Taps::require(const std::string& path) const {
  auto it = got.find(path);
  if (it != got.end()) return it->second;
  std::string names;
  for (const auto& [k, v] : got) names += (names.empty() ? "" : ", ") + k;
  throw Error(fmt::format("no activation named '{}' was recorded (recorded: {})", path,
                          names.empty() ? "none" : names));
}

Tensor Module::operator()(const Tensor& x, Taps* taps) {
  profiler::LayerScope profile_layer(this, path_, [this] { return type_name(); });
  Tensor y = forward(x, taps);
  if (taps && !path_.empty() && taps->wants(path_)) taps->got[path_] = y;
  return y;
}

static void collect(const Module& m, const std::string& prefix,
                    const std::vector<std::pair<std::string, Tensor>>& own,
                    NamedTensorList& out) {
  for (const auto& [n, t] : own) out.emplace_back(prefix.empty() ? n : prefix + "." + n, t);
}

NamedTensorList Module::named_parameters() const {
  NamedTensorList out;
  collect(*this, "", params_, out);
  for (const auto& [cn, c] : children_)
    for (auto& [n, t] : c->named_parameters()) out.emplace_back(cn + "." + n, t);
  return out;
}

NamedTensorList Module::named_buffers() const {
  NamedTensorList out;
  collect(*this, "", buffers_, out);
  for (const auto& [cn, c] : children_)
    for (auto& [n, t] : c->named_buffers()) out.emplace_back(cn + "." + n, t);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_parameters()) out.push_back(t);
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
  std::vector<std::pair<std::string, Module*>> out{{"", this}};
  for (auto& [cn, c] : children_)
    for (auto& [n, m] : c->named_modules()) out.emplace_back(n.empty() ? cn : cn + "." + n, m);
  return out;
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (auto& [name, t] : named_parameters()) n += t.numel();
  return n;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [n, c] : children_) c->train(on);
}

void Module::zero_grad() {
  for (auto& [n, t] : named_parameters()) t.zero_grad();
}

void Module::to(const Device& d) {
  for (auto* list : {&params_, &buffers_}) {
    for (auto& [n, t] : *list) {
      if (t.device() == d) continue;
      const bool grad = t.requires_grad();
      t = t.to(d);
      if (grad) t.set_requires_grad(true);
    }
  }
  for (auto& [n, c] : children_) c->to(d);
}

Device Module::device() const {
  for (const auto& [n, t] : params_) return t.device();
  for (const auto& [n, c] : children_) {
    if (!c->named_parameters().empty()) return c->device();
  }
  return Device::cpu();
}

void Module::assign_paths(const std::string& prefix) {
  path_ = prefix;
  for (auto& [n, c] : children_) c->assign_paths(prefix.empty() ? n : prefix + "." + n);
}

void Module::set_rng(std::shared_ptr<Rng> rng) {
  rng_ = rng;
  for (auto& [n, c] : children_) c->set_rng(rng);
}

Rng& Module::rng() {
  if (!rng_) rng_ = std::make_shared<Rng>(0);
  return *rng_;
}

Tensor& Module::register_parameter(const std::string& name, Tensor t) {
  t.set_requires_grad(true);
  params_.emplace_back(name, t);
  return params_.back().second;
}

Tensor& Module::register_buffer(const std::string& name, Tensor t) {
  buffers_.emplace_back(name, t);
  return buffers_.back().second;
}

NamedTensorList state_dict(const Module& m) {
  NamedTensorList out = m.named_parameters();
  for (auto& b : m.named_buffers()) out.push_back(b);
  return out;
}

void load_state_dict(Module& m, const NamedTensorList& state, const std::string& source,
                     bool allow_extra) {
  std::map<std::string, Tensor> by_name;
  for (const auto& [n, t] : state) by_name[n] = t;
  NoGradGuard ng;
  std::set<std::string> used;
  for (auto& [name, dst] : state_dict(m)) {
    auto it = by_name.find(name);
    SIGNET_CHECK(it != by_name.end(), "{}: missing tensor '{}' (the model needs it; is this a {} file?)",
                 source, name, m.type_name());
    const Tensor& src = it->second;
    SIGNET_CHECK(src.shape() == dst.shape(), "{}: tensor '{}' has shape {}, the model expects {}", source,
                 name, shape_str(src.shape()), shape_str(dst.shape()));
    SIGNET_CHECK(src.dtype() == dst.dtype(), "{}: tensor '{}' is {}, the model expects {}", source, name,
                 dtype_name(src.dtype()), dtype_name(dst.dtype()));
    Tensor d = dst;
    d.copy_(src);
    used.insert(name);
  }
  if (!allow_extra) {
    for (const auto& [n, t] : state)
      SIGNET_CHECK(used.count(n), "{}: unexpected tensor '{}' (not part of model {})", source, n, m.type_name());
  }
}

}  // namespace signet
