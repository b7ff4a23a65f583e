#include "models/registry.h"

#include <functional>
#include <map>

namespace signet {

std::shared_ptr<Module> make_mnist_mlp(const ModelConfig& c, Rng& rng);
std::shared_ptr<Module> make_cifar10_cnn(const ModelConfig& c, Rng& rng);
std::shared_ptr<Module> make_wide_resnet(int64_t depth, int64_t widen, const ModelConfig& c, Rng& rng);
std::shared_ptr<Module> make_resnet50(const ModelConfig& c, Rng& rng);
std::shared_ptr<Module> make_imdb_lstm(const ModelConfig& c, Rng& rng);

namespace {
using Builder = std::function<std::shared_ptr<Module>(const ModelConfig&, Rng&)>;

struct Entry {
  Builder build;
  std::string loss;         // Model::loss
  ModelConfig defaults;     // default_model_config
  std::string penultimate;  // penultimate_tap
};

ModelConfig cfg(int64_t classes, Shape shape, int64_t vocab = 0) {
  ModelConfig c;
  c.num_classes = classes;
  c.input_shape = std::move(shape);
  c.vocab_size = vocab;
  return c;
}

const std::map<std::string, Entry>& builders() {
  static const std::map<std::string, Entry> b = {
      {"mnist-mlp", {make_mnist_mlp, "cross_entropy", cfg(10, {1, 28, 28}), "relu2"}},
      {"cifar10-cnn", {make_cifar10_cnn, "cross_entropy", cfg(10, {3, 32, 32}), "classifier.2"}},
      {"resnet50", {make_resnet50, "cross_entropy", cfg(1000, {3, 224, 224}), "avgpool"}},
      {"imdb-lstm", {make_imdb_lstm, "bce", cfg(2, {500}, 5002), "lstm"}},
  };
  return b;
}

// The entry of `name` (wrn-D-K made on demand); null when unknown.
std::unique_ptr<Entry> find_entry(const std::string& name) {
  auto it = builders().find(name);
  if (it != builders().end()) return std::make_unique<Entry>(it->second);
  int64_t d = 0, k = 0;
  if (parse_wrn_name(name, &d, &k)) {
    Builder b = [d, k](const ModelConfig& c, Rng& r) { return make_wide_resnet(d, k, c, r); };
    return std::make_unique<Entry>(Entry{b, "cross_entropy", cfg(10, {3, 32, 32}), "pool"});
  }
  return nullptr;
}
}  // namespace

bool parse_wrn_name(const std::string& name, int64_t* depth, int64_t* widen) {
  if (name.rfind("wrn-", 0) != 0) return false;
  const std::string rest = name.substr(4);
  const auto dash = rest.find('-');
  auto number = [&](const std::string& s) -> int64_t {
    SIGNET_CHECK(!s.empty() && s.size() <= 6 && s.find_first_not_of("0123456789") == std::string::npos,
                 "model '{}': expected wrn-D-K with integers D (depth) and K (widen factor), e.g. wrn-16-4 "
                 "or wrn-28-10",
                 name);
    return std::stoll(s);
  };
  SIGNET_CHECK(dash != std::string::npos,
               "model '{}': expected wrn-D-K with depth D and widen factor K, e.g. wrn-16-4 or wrn-28-10", name);
  const int64_t d = number(rest.substr(0, dash)), k = number(rest.substr(dash + 1));
  SIGNET_CHECK(d >= 10 && (d - 4) % 6 == 0,
               "model '{}': the depth D of wrn-D-K must be 6n + 4 with n >= 1 blocks per group (10, 16, 22, 28, "
               "40, ...), got {}",
               name, d);
  SIGNET_CHECK(k >= 1, "model '{}': the widen factor K of wrn-D-K must be >= 1, got {}", name, k);
  *depth = d;
  *widen = k;
  return true;
}

std::vector<std::string> model_names() {
  std::vector<std::string> n;
  for (auto& [k, v] : builders()) n.push_back(k);
  n.push_back("wrn-16-4");
  n.push_back("wrn-28-10");
  return n;
}

void require_model_name(const std::string& name) {
  if (find_entry(name)) return;
  std::string known;
  for (auto& n : model_names()) known += (known.empty() ? "" : ", ") + n;
  throw Error(fmt::format("unknown model '{}' (known models: {}; wrn-D-K for any Wide ResNet depth D = 6n+4 "
                          "and widen factor K)",
                          name, known));
}

ModelConfig default_model_config(const std::string& name) {
  require_model_name(name);
  return find_entry(name)->defaults;
}

std::string penultimate_tap(const std::string& name) {
  require_model_name(name);
  return find_entry(name)->penultimate;
}

Model build_model(const std::string& name, const ModelConfig& config, Rng& init_rng) {
  require_model_name(name);
  const auto e = find_entry(name);
  SIGNET_CHECK(config.num_classes > 0, "{}: number of classes must be positive", name);
  SIGNET_CHECK(config.dropout >= 0.0f && config.dropout < 1.0f, "{}: dropout {} must be in [0, 1)", name,
               config.dropout);
  Model m{name, config, e->build(config, init_rng), e->loss};
  m.net->assign_paths("");
  return m;
}

}  // namespace signet
