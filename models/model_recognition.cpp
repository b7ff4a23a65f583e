#include "models/model_recognition.h"

#include <cmath>
#include <set>

namespace signet {

namespace {

// The tensors that identify each architecture (registry.h names them); enough to tell the five
// apart, while the full list of names and shapes is checked when the weights are loaded.
struct Signature {
  std::string name;  // "wrn-D-K" stands for the family
  std::vector<std::string> tensors;
};

const std::vector<Signature>& signatures() {
  static const std::vector<Signature> s = {
      {"mnist-mlp", {"fc1.weight", "fc2.weight", "fc3.weight"}},
      {"cifar10-cnn", {"features.0.weight", "features.7.weight", "classifier.1.weight", "classifier.4.weight"}},
      {"wrn-D-K", {"conv1.weight", "block1.layer.0.conv1.weight", "block3.layer.0.conv1.weight", "fc.weight"}},
      {"resnet50", {"conv1.weight", "layer1.0.conv3.weight", "layer4.0.conv3.weight", "fc.weight"}},
      {"imdb-lstm", {"embedding.weight", "lstm.weight_ih_l0", "fc.weight"}},
  };
  return s;
}

// Number of consecutive blocks `prefix`0., `prefix`1., ... present in the file.
int64_t count_blocks(const NamedTensors& file, const std::string& prefix) {
  std::set<int64_t> seen;
  for (const auto& [n, t] : file.tensors) {
    if (n.rfind(prefix, 0) != 0) continue;
    const size_t dot = n.find('.', prefix.size());
    const std::string idx = n.substr(prefix.size(), dot == std::string::npos ? std::string::npos : dot - prefix.size());
    if (!idx.empty() && idx.size() <= 6 && idx.find_first_not_of("0123456789") == std::string::npos)
      seen.insert(std::stoll(idx));
  }
  int64_t n = 0;
  while (seen.count(n)) ++n;
  return n;
}

std::vector<int64_t> resnet_blocks(const NamedTensors& file) {
  std::vector<int64_t> b;
  for (int i = 1; i <= 4; ++i) b.push_back(count_blocks(file, "layer" + std::to_string(i) + "."));
  return b;
}

std::string join(const std::vector<std::string>& v, const std::string& sep = ", ") {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + v[i];
  return s;
}

// The tensor `name`, which the architecture needs with `dims` dimensions.
const Tensor& need(const NamedTensors& file, const std::string& model, const std::string& name, int64_t dims,
                   const std::string& path) {
  const Tensor* t = file.find(name);
  SIGNET_CHECK(t, "{}: {} needs a tensor '{}', the file has none (is it a {} state dict?)", path, model, name, model);
  SIGNET_CHECK(t->dim() == dims, "{}: tensor '{}' has shape {}, {} expects {} dimensions", path, name,
               shape_str(t->shape()), model, dims);
  return *t;
}

std::string join_dims(const Shape& s) {
  std::string r;
  for (size_t i = 0; i < s.size(); ++i) r += (i ? "," : "") + std::to_string(s[i]);
  return r;
}

int64_t exact_sqrt(int64_t v) {
  const auto r = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(v))));
  return r * r == v ? r : 0;
}

// What the weights fix about the input of an image model; fits() says whether a shape agrees.
struct InputRule {
  int64_t channels = 0;  // 0: any
  int64_t flat = 0;      // mnist-mlp: C*H*W
  int64_t cells = 0;     // cifar10-cnn: (H/4)*(W/4)
  bool tokens = false;
  std::string why;       // the tensor that fixes it, for messages
  Shape fixed;           // the shape the weights imply on their own; empty: not fixed

  bool fits(const Shape& s) const {
    if (tokens) return s.size() == 1;
    if (s.size() != 3) return false;
    if (channels && s[0] != channels) return false;
    if (flat && shape_numel(s) != flat) return false;
    if (cells && (s[1] / 4) * (s[2] / 4) != cells) return false;
    return true;
  }
  std::string describe() const {
    if (tokens) return "token sequences [L]";
    if (flat) return fmt::format("C*H*W = {} inputs ({})", flat, why);
    if (cells) return fmt::format("{} channels and (H/4)*(W/4) = {} ({})", channels, cells, why);
    return fmt::format("{} channels ({}), any H, W", channels, why);
  }
};

InputRule input_rule(const std::string& name, const NamedTensors& file, const std::string& path) {
  InputRule r;
  if (name == "mnist-mlp") {
    const Tensor& w = need(file, name, "fc1.weight", 2, path);
    r.flat = w.size(1);
    r.why = fmt::format("fc1.weight is {}", shape_str(w.shape()));
    const int64_t side = exact_sqrt(r.flat);
    r.fixed = side ? Shape{1, side, side} : Shape{1, 1, r.flat};
  } else if (name == "cifar10-cnn") {
    r.channels = need(file, name, "features.0.weight", 4, path).size(1);
    const Tensor& w = need(file, name, "classifier.1.weight", 2, path);
    SIGNET_CHECK(w.size(1) % 64 == 0, "{}: classifier.1.weight has shape {}; cifar10-cnn's takes 64*(H/4)*(W/4) "
                 "inputs, a multiple of 64", path, shape_str(w.shape()));
    r.cells = w.size(1) / 64;
    r.why = fmt::format("classifier.1.weight is {}", shape_str(w.shape()));
    if (const int64_t q = exact_sqrt(r.cells)) r.fixed = {r.channels, 4 * q, 4 * q};
  } else if (name == "imdb-lstm") {
    r.tokens = true;
  } else {  // wrn-D-K, resnet50: global average pooling takes any H, W
    const Tensor& w = need(file, name, "conv1.weight", 4, path);
    r.channels = w.size(1);
    r.why = fmt::format("conv1.weight is {}", shape_str(w.shape()));
  }
  return r;
}

Shape choose_input_shape(const std::string& name, const InputRule& rule, const InputShapeHints& h,
                         const std::string& path) {
  const std::string ask = rule.tokens ? "--input-shape L (tokens per sequence)" : "--input-shape C,H,W";
  if (!h.given.empty()) {
    SIGNET_CHECK(rule.fits(h.given), "{}: --input-shape {} does not fit this {}: its weights take {}", path,
                 shape_str(h.given), name, rule.describe());
    return h.given;
  }
  if (!h.data.empty() && rule.fits(h.data)) return h.data;
  if (!rule.fixed.empty()) return rule.fixed;
  SIGNET_CHECK(h.data.empty(), "{}: the inputs of {} are {}, but this {} takes {}; give {}", path, h.data_from,
               shape_str(h.data), name, rule.describe(), ask);
  throw Error(fmt::format("{}: the file has no Signet metadata and its weights do not fix the input shape of this "
                          "{} ({}); give {}", path, name, rule.describe(), ask));
}

}  // namespace

std::vector<std::string> matching_architectures(const NamedTensors& file) {
  std::vector<std::string> out;
  for (const Signature& s : signatures()) {
    bool all = true;
    for (const std::string& t : s.tensors) all = all && file.find(t);
    if (!all) continue;
    if (s.name == "resnet50" && resnet_blocks(file) != std::vector<int64_t>{3, 4, 6, 3}) continue;
    if (s.name != "wrn-D-K") {
      out.push_back(s.name);
      continue;
    }
    const int64_t n = count_blocks(file, "block1.layer.");
    const int64_t width = file.find("block1.layer.0.conv1.weight")->size(0);
    if (n >= 1 && width % 16 == 0 && width >= 16) out.push_back(fmt::format("wrn-{}-{}", 6 * n + 4, width / 16));
  }
  return out;
}

std::string recognise_architecture(const NamedTensors& file, const std::string& path) {
  const std::vector<std::string> found = matching_architectures(file);
  SIGNET_CHECK(found.size() < 2, "{}: the file has no Signet metadata and its tensors fit several models ({}); "
               "pass --model NAME", path, join(found));
  if (found.size() == 1) return found[0];
  std::vector<std::string> needs;
  for (const Signature& s : signatures()) needs.push_back(s.name + " needs " + join(s.tensors));
  std::string held;
  for (size_t i = 0; i < file.tensors.size() && i < 4; ++i) held += (i ? ", " : "") + file.tensors[i].first;
  if (file.tensors.size() > 4) held += ", ...";
  std::string note;
  const std::vector<int64_t> b = resnet_blocks(file);
  if (file.find("layer1.0.conv1.weight") && b != std::vector<int64_t>{3, 4, 6, 3})
    note = fmt::format(" (a ResNet with [{}, {}, {}, {}] blocks per stage? Signet builds resnet50's [3, 4, 6, 3])",
                       b[0], b[1], b[2], b[3]);
  throw Error(fmt::format("{}: the file has no Signet metadata and its tensors ({} tensors: {}) fit none of the "
                          "models Signet builds{}: {}. If it is one of them, pass --model NAME: loading then names "
                          "the tensor that differs",
                          path, file.tensors.size(), held, note, join(needs, "; ")));
}

namespace {
// Classes and vocabulary, from the last layer and the embedding.
ModelConfig weights_config(const std::string& name, const NamedTensors& file, const std::string& path) {
  require_model_name(name);
  ModelConfig c;
  c.dropout = 0.0f;
  if (name == "mnist-mlp") {
    c.num_classes = need(file, name, "fc3.weight", 2, path).size(0);
  } else if (name == "cifar10-cnn") {
    c.num_classes = need(file, name, "classifier.4.weight", 2, path).size(0);
  } else if (name == "imdb-lstm") {
    const Tensor& fc = need(file, name, "fc.weight", 2, path);
    SIGNET_CHECK(fc.size(0) == 1, "{}: fc.weight has shape {}; imdb-lstm has one logit (fc.weight [1, 100])", path,
                 shape_str(fc.shape()));
    c.num_classes = 2;
    c.vocab_size = need(file, name, "embedding.weight", 2, path).size(0);
  } else {  // wrn-D-K, resnet50
    c.num_classes = need(file, name, "fc.weight", 2, path).size(0);
  }
  return c;
}
}  // namespace

ModelConfig infer_model_config(const std::string& name, const NamedTensors& file, const InputShapeHints& hints,
                               const std::string& path) {
  require_model_name(name);
  for (const Signature& s : signatures()) {
    if (s.name != name && !(s.name == "wrn-D-K" && name.rfind("wrn-", 0) == 0)) continue;
    std::vector<std::string> missing;
    for (const std::string& t : s.tensors)
      if (!file.find(t)) missing.push_back(t);
    const std::vector<std::string> fits = matching_architectures(file);
    SIGNET_CHECK(missing.empty(), "{}: the file has no Signet metadata and no {} tensor {}; it is not a {} state "
                 "dict ({})", path, name, join(missing), name,
                 fits.empty() ? "its tensors fit none of Signet's models" : "its tensors fit " + join(fits));
  }
  ModelConfig c = weights_config(name, file, path);
  c.input_shape = choose_input_shape(name, input_rule(name, file, path), hints, path);
  return c;
}

void check_config_against_weights(const std::string& name, const ModelConfig& config, const NamedTensors& weights,
                                  const std::string& path) {
  const ModelConfig w = weights_config(name, weights, path);
  if (name != "imdb-lstm")  // one logit whatever the metadata says
    SIGNET_CHECK(config.num_classes == w.num_classes, "{}: its metadata says signet.num_classes = {}, its weights "
                 "have {} classes: the file is corrupt", path, config.num_classes, w.num_classes);
  SIGNET_CHECK(config.vocab_size == 0 || config.vocab_size == w.vocab_size, "{}: its metadata says "
               "signet.vocab_size = {}, embedding.weight has {} rows: the file is corrupt", path, config.vocab_size,
               w.vocab_size);
  const InputRule rule = input_rule(name, weights, path);
  SIGNET_CHECK(rule.fits(config.input_shape), "{}: its metadata says signet.input_shape = {}, but its weights take {}: "
               "the file is corrupt", path, join_dims(config.input_shape), rule.describe());
  int64_t depth = 0, widen = 0;
  if (parse_wrn_name(name, &depth, &widen)) {
    const int64_t blocks = count_blocks(weights, "block1.layer.");
    const Tensor& c = need(weights, name, "block1.layer.0.conv1.weight", 4, path);
    SIGNET_CHECK(6 * blocks + 4 == depth && c.size(0) == 16 * widen, "{}: its metadata says signet.model = {}, but "
                 "its weights have {} blocks per group of width {} (wrn-{}-{}): the file is corrupt", path, name,
                 blocks, c.size(0), 6 * blocks + 4, c.size(0) / 16);
  }
}

std::string describe_recognised_model(const NamedTensors& file) {
  const std::vector<std::string> found = matching_architectures(file);
  if (found.empty()) return "not one of Signet's models (its tensors fit none; see `signet predict --model`)";
  if (found.size() > 1) return "ambiguous: its tensors fit " + join(found) + " (pass --model)";
  const std::string& name = found[0];
  try {
    const ModelConfig c = weights_config(name, file, "");
    const InputRule rule = input_rule(name, file, "");
    std::string s = fmt::format("{}: {} classes", name, c.num_classes);
    if (c.vocab_size) s += fmt::format(", vocabulary {}", c.vocab_size);
    s += ", input " + (rule.fixed.empty() ? rule.describe() + " (give --input-shape)" : shape_str(rule.fixed));
    return s;
  } catch (const Error& e) {
    return name + "? " + e.what();
  }
}

}  // namespace signet
