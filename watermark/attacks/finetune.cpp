// clone_model and the fine-tuning attack (watermark/attacks/attacks.h).
#include "watermark/attacks/attacks.h"

namespace signet {

Model clone_model(const Model& model) {
  SIGNET_CHECK(model.net != nullptr, "clone_model: the model '{}' has no network", model.name);
  // Build the same architecture, then copy every parameter and buffer by name (deep copies:
  // load_state_dict copies into the new model's own tensors). The init draws are overwritten.
  Rng init(0);
  Model copy = build_model(model.name, model.config, init);
  load_state_dict(*copy.net, state_dict(*model.net), "clone_model(" + model.name + ")");
  copy.loss = model.loss;
  copy.net->train(model.net->is_training());
  return copy;
}

TrainResult finetune_attack(Model& model, const Dataset& train, const Normalization& norm, const TrainConfig& cfg) {
  // The attacker knows no watermark: plain training loss only, whatever the caller's config held.
  TrainConfig plain = cfg;
  plain.taps.clear();
  plain.extra_params.clear();
  plain.extra_loss = nullptr;
  return train_model(model, train, norm, plain);
}

}  // namespace signet
