// Overwriting attacks (watermark/attacks/attacks.h): the attacker embeds its own DeepSigns mark.
#include "watermark/attacks/attacks.h"

namespace signet {

HiddenKeys overwrite_attack(Model& model, const Dataset& train, const Normalization& norm, const HiddenConfig& attacker,
                            const TrainConfig& cfg) {
  // The attacker's keys come from its own seed (a stream apart from the data order, as in
  // `signet embed`); it knows the method and the layer, not the owner's keys.
  Rng key_rng(attacker.seed ^ 0x6B657973ULL);
  HiddenKeys keys = key_generation(model, train, norm, attacker, key_rng);
  embed_hidden(model, train, norm, keys, cfg);
  return keys;
}

OutputKeys overwrite_output_attack(Model& model, const Dataset& train, const Normalization& norm,
                                   const OutputConfig& attacker, const TrainConfig& cfg) {
  return embed_output(model, train, norm, attacker, cfg);
}

}  // namespace signet
