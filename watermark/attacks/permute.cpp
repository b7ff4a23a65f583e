// Feature permutation (watermark/attacks/attacks.h).
//
// The model is read as a chain of layers (every container a Sequential, run in order). A hidden
// "unit group" runs from a producer (Linear or Conv2d, not the last one) through the layers that
// keep its units apart (ReLU, Dropout, pooling, BatchNorm, Flatten) to the consumer (the next
// Linear or Conv2d). Permuting the units means: producer output rows (weight, bias), the
// BatchNorms' per-channel parameters and running statistics, and the consumer's inputs (a
// Conv2d's input channels; a Linear's inputs, in blocks of H*W when a Flatten turned channels
// into channel-major features) all move by the same permutation, so the logits do not change.
#include <cstring>
#include <map>

#include "layers/conv_layers.h"
#include "layers/layers.h"
#include "watermark/attacks/attacks.h"

namespace signet {

namespace {
struct UnitGroup {
  std::string tap;                   // the name reported (the first ReLU, else the producer)
  std::vector<std::string> members;  // every leaf from the producer to before the consumer
  std::string producer, consumer;
  std::vector<std::string> batchnorms;
  int64_t units = 0;
  bool consumer_is_conv = false;
};

bool is_keeping_leaf(const std::string& t) {
  return t == "ReLU" || t == "Dropout" || t == "MaxPool2d" || t == "AvgPool2d" || t == "GlobalAvgPool" ||
         t == "Flatten" || t == "BatchNorm1d" || t == "BatchNorm2d";
}

std::vector<UnitGroup> unit_groups(Model& model) {
  // Leaves in forward order; anything that is not a plain chain is refused.
  std::vector<std::pair<std::string, Module*>> leaves;
  for (const auto& [path, m] : model.net->named_modules()) {
    if (dynamic_cast<Sequential*>(m)) continue;
    const std::string t = m->type_name();
    SIGNET_CHECK(t == "Linear" || t == "Conv2d" || is_keeping_leaf(t),
                 "permute_units supports models built as a plain chain of layers (mnist-mlp, cifar10-cnn); {} has a "
                 "{} ('{}') whose units cannot be permuted safely",
                 model.name, t, path);
    leaves.emplace_back(path, m);
  }
  std::vector<UnitGroup> groups;
  for (size_t i = 0; i < leaves.size(); ++i) {
    Module* m = leaves[i].second;
    int64_t units = 0;
    if (auto* lin = dynamic_cast<Linear*>(m)) units = lin->out_features();
    if (auto* conv = dynamic_cast<Conv2d*>(m)) units = conv->out_channels();
    if (units == 0) continue;
    UnitGroup g;
    g.producer = leaves[i].first;
    g.units = units;
    g.members.push_back(g.producer);
    bool flattened = false;
    size_t j = i + 1;
    for (; j < leaves.size(); ++j) {
      Module* n = leaves[j].second;
      if (dynamic_cast<Linear*>(n) || dynamic_cast<Conv2d*>(n)) break;
      const std::string t = n->type_name();
      if (t == "Flatten" || t == "GlobalAvgPool") flattened = true;
      if (auto* bn = dynamic_cast<BatchNormBase*>(n)) {
        SIGNET_CHECK(bn->num_features() == units, "{}: BatchNorm '{}' has {} features after {} units of '{}'",
                     model.name, leaves[j].first, bn->num_features(), units, g.producer);
        g.batchnorms.push_back(leaves[j].first);
      }
      if (t == "ReLU" && g.tap.empty()) g.tap = leaves[j].first;
      g.members.push_back(leaves[j].first);
    }
    if (j == leaves.size()) break;  // the output layer: its units are the classes
    g.consumer = leaves[j].first;
    if (g.tap.empty()) g.tap = g.producer;
    if (auto* conv = dynamic_cast<Conv2d*>(leaves[j].second)) {
      SIGNET_CHECK(!flattened && conv->in_channels() == units, "{}: '{}' takes {} channels after {} units of '{}'",
                   model.name, g.consumer, conv->in_channels(), units, g.producer);
      g.consumer_is_conv = true;
    } else {
      const int64_t in = dynamic_cast<Linear*>(leaves[j].second)->in_features();
      SIGNET_CHECK(in % units == 0, "{}: '{}' takes {} inputs, not a multiple of the {} units of '{}'", model.name,
                   g.consumer, in, units, g.producer);
    }
    groups.push_back(std::move(g));
  }
  return groups;
}

// Moves the slices of t along `dim` by units: the block of unit j (n / units adjacent indices)
// becomes the block of unit perm[j]. In place (the model's own tensor).
void permute_dim(Tensor& t, int64_t dim, const std::vector<int64_t>& perm) {
  SIGNET_CHECK(t.is_contiguous() && t.dtype() == DType::F32, "permute_units: '{}' is not a contiguous float32 tensor",
               t.impl()->name);
  const Shape& sh = t.shape();
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < dim; ++d) outer *= sh[d];
  for (int64_t d = dim + 1; d < t.dim(); ++d) inner *= sh[d];
  const int64_t n = sh[dim], units = static_cast<int64_t>(perm.size()), chunk = (n / units) * inner;
  const Tensor src = t.clone();
  float* dst = t.f32();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < units; ++j)
      std::memcpy(dst + o * n * inner + j * chunk, src.f32() + o * n * inner + perm[j] * chunk,
                  sizeof(float) * static_cast<size_t>(chunk));
}
}  // namespace

PermuteReport permute_units(Model& model, const std::vector<std::string>& taps, uint64_t seed) {
  SIGNET_CHECK(model.net != nullptr, "permute_units: the model has no network");
  const std::vector<UnitGroup> groups = unit_groups(model);
  SIGNET_CHECK(!groups.empty(), "{} has no hidden layer to permute", model.name);
  std::vector<bool> chosen(groups.size(), taps.empty());
  for (const std::string& tap : taps) {
    bool found = false;
    for (size_t i = 0; i < groups.size(); ++i)
      for (const std::string& m : groups[i].members)
        if (m == tap) chosen[i] = found = true;
    if (!found) {
      std::string names;
      for (const UnitGroup& g : groups) names += (names.empty() ? "" : ", ") + g.tap;
      throw Error(fmt::format("{} has no hidden layer '{}' to permute (hidden layers: {})", model.name, tap, names));
    }
  }
  std::map<std::string, Tensor> tensors;
  for (const auto& [n, t] : model.net->named_parameters()) tensors[n] = t;
  for (const auto& [n, t] : model.net->named_buffers()) tensors[n] = t;
  auto moved = [&tensors](const std::string& name, int64_t dim, const std::vector<int64_t>& perm) {
    const auto it = tensors.find(name);
    if (it == tensors.end()) return;  // e.g. a layer without bias
    permute_dim(it->second, dim, perm);
  };
  Rng rng(seed);
  PermuteReport rep;
  for (size_t i = 0; i < groups.size(); ++i) {
    if (!chosen[i]) continue;
    const UnitGroup& g = groups[i];
    std::vector<int64_t> perm(g.units);
    for (int64_t u = 0; u < g.units; ++u) perm[u] = u;
    rng.shuffle(perm);
    moved(g.producer + ".weight", 0, perm);
    moved(g.producer + ".bias", 0, perm);
    for (const std::string& bn : g.batchnorms)
      for (const char* what : {".weight", ".bias", ".running_mean", ".running_var"}) moved(bn + what, 0, perm);
    moved(g.consumer + ".weight", 1, perm);
    rep.taps.push_back(g.tap);
    rep.perms.push_back(std::move(perm));
  }
  return rep;
}

}  // namespace signet
