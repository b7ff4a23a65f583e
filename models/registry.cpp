#include "models/registry.h"

#include <functional>
#include <map>

namespace signet {

std::shared_ptr<Module> make_mnist_mlp(const ModelConfig& c, Rng& rng);

namespace {
using Builder = std::function<std::shared_ptr<Module>(const ModelConfig&, Rng&)>;
const std::map<std::string, Builder>& builders() {
  static const std::map<std::string, Builder> b = {
      {"mnist-mlp", make_mnist_mlp},
  };
  return b;
}
}  // namespace

std::vector<std::string> model_names() {
  std::vector<std::string> n;
  for (auto& [k, v] : builders()) n.push_back(k);
  return n;
}

Model build_model(const std::string& name, const ModelConfig& config, Rng& init_rng) {
  auto it = builders().find(name);
  if (it == builders().end()) {
    std::string known;
    for (auto& n : model_names()) known += (known.empty() ? "" : ", ") + n;
    throw Error(fmt::format("unknown model '{}' (known models: {})", name, known));
  }
  SIGNET_CHECK(config.num_classes > 0, "{}: number of classes must be positive", name);
  Model m{name, config, it->second(config, init_rng)};
  m.net->assign_paths("");
  return m;
}

}  // namespace signet
