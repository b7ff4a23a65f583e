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

void require_model_name(const std::string& name) {
  if (builders().count(name)) return;
  std::string known;
  for (auto& n : model_names()) known += (known.empty() ? "" : ", ") + n;
  throw Error(fmt::format("unknown model '{}' (known models: {})", name, known));
}

Model build_model(const std::string& name, const ModelConfig& config, Rng& init_rng) {
  require_model_name(name);
  auto it = builders().find(name);
  SIGNET_CHECK(config.num_classes > 0, "{}: number of classes must be positive", name);
  Model m{name, config, it->second(config, init_rng)};
  m.net->assign_paths("");
  return m;
}

}  // namespace signet
