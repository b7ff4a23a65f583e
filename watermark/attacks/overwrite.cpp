// Overwriting attacks (watermark/attacks/attacks.h): the attacker embeds its own DeepSigns mark.
#include "watermark/attacks/attacks.h"

namespace signet {

HiddenKeys overwrite_attack(Model& model, const Dataset& train, const Normalization& norm, const HiddenConfig& attacker,
                            const TrainConfig& cfg, Rng& key_rng) {
  // The attacker knows the method and the layer, not the owner's keys: its keys are its own.
  HiddenKeys keys = key_generation(model, train, norm, attacker, key_rng);
  embed_hidden(model, train, norm, keys, cfg);
  return keys;
}

OutputKeys overwrite_output_attack(Model& model, const Dataset& train, const Normalization& norm,
                                   const OutputConfig& attacker, const TrainConfig& cfg, Rng& key_rng) {
  return embed_output(model, train, norm, attacker, cfg, key_rng);
}

}  // namespace signet
