// Magnitude pruning and sparse fine-tuning (watermark/attacks/attacks.h).
#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/ops.h"
#include "watermark/attacks/attacks.h"

namespace signet {

std::vector<std::pair<std::string, Tensor>> layer_weights(Model& model) {
  std::vector<std::pair<std::string, Tensor>> out;
  const NamedTensorList params = model.net->named_parameters();
  for (const auto& [path, m] : model.net->named_modules()) {
    const std::string t = m->type_name();
    if (t != "Linear" && t != "Conv2d") continue;
    const std::string name = path.empty() ? "weight" : path + ".weight";
    for (const auto& [pn, p] : params)
      if (pn == name) out.emplace_back(pn, p);
  }
  return out;
}

PruneReport prune_magnitude(Model& model, double fraction) {
  SIGNET_CHECK(std::isfinite(fraction) && fraction >= 0 && fraction <= 1, "the pruning fraction must be in [0, 1], got {}",
               fraction);
  const auto weights = layer_weights(model);
  SIGNET_CHECK(!weights.empty(), "{} has no Linear or Conv2d weights to prune", model.name);
  NoGradGuard ng;
  PruneReport rep;
  for (const auto& [name, w] : weights) {
    SIGNET_CHECK(w.is_contiguous() && w.dtype() == DType::F32, "{}: pruning needs a contiguous float32 tensor", name);
    const int64_t n = w.numel();
    const int64_t k = std::llround(fraction * static_cast<double>(n));
    float* p = w.f32();
    // The k smallest |w|, ties by index: a stable order on (|w|, index).
    std::vector<int64_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    if (k > 0 && k < n)
      std::nth_element(order.begin(), order.begin() + k, order.end(), [p](int64_t a, int64_t b) {
        const float fa = std::fabs(p[a]), fb = std::fabs(p[b]);
        return fa < fb || (fa == fb && a < b);
      });
    PruneMask mask;
    mask.param = name;
    mask.keep = Tensor::ones(w.shape());
    for (int64_t i = 0; i < k; ++i) {
      p[order[i]] = 0.0f;
      mask.keep.f32()[order[i]] = 0.0f;
    }
    mask.pruned = k;
    mask.total = n;
    rep.pruned += k;
    rep.total += n;
    rep.masks.push_back(std::move(mask));
  }
  return rep;
}

TrainResult sparse_finetune(Model& model, const PruneReport& masks, const Dataset& train, const Normalization& norm,
                            TrainConfig cfg) {
  // Bind each mask to the model's own parameter tensor (the one the optimizer updates).
  const NamedTensorList params = model.net->named_parameters();
  std::vector<std::pair<Tensor, Tensor>> bound;  // (parameter, keep)
  for (const PruneMask& m : masks.masks) {
    const auto it = std::find_if(params.begin(), params.end(), [&m](const auto& p) { return p.first == m.param; });
    SIGNET_CHECK(it != params.end(), "sparse_finetune: the mask names '{}', which {} does not have", m.param, model.name);
    SIGNET_CHECK(it->second.shape() == m.keep.shape(), "sparse_finetune: the mask of '{}' is {}, the parameter {}",
                 m.param, shape_str(m.keep.shape()), shape_str(it->second.shape()));
    bound.emplace_back(it->second, m.keep.contiguous());
  }
  auto apply = [bound] {
    for (const auto& [w, keep] : bound) {
      float* p = w.f32();
      const float* k = keep.f32();
      for (int64_t i = 0, n = w.numel(); i < n; ++i) p[i] *= k[i];
    }
  };
  apply();
  // Momentum and weight decay move pruned weights off zero at every step; zero them again.
  std::function<void()> before = cfg.after_step;
  cfg.after_step = [before, apply] {
    if (before) before();
    apply();
  };
  return finetune_attack(model, train, norm, cfg);  // plain cross-entropy, as the thief trains
}

}  // namespace signet
