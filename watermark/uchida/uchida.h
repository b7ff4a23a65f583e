// Uchida et al., "Embedding Watermarks into Deep Neural Networks" (ICMR 2017): a T-bit
// signature in the weights of one layer.
//
// Keys (secret): the layer (a parameter name such as "fc2.weight" or "features.3.weight"), the
// projection X [T, M] ~ N(0, 1) and the signature b [T] (random bits from the key generator, or
// the SHA-256 bits of an owner string).
// Carrier: w = the mean over the layer's L filters (output units) of the flattened kernel
//   weights, M = (in channels x kernel height x kernel width) for a Conv2d, in features for a
//   Linear layer.
// Embedding: cross-entropy + lambda * sum_j BCE(sigmoid((X w)_j), b_j) while training from
//   scratch or fine-tuning. The sum over bits (not the mean) and lambda = 0.01 follow the
//   paper's reference implementation.
// Extraction: bits = (X w > 0); BER against b; p-value = P[Binomial(T, 1/2) >= matches].
#pragma once
#include <map>
#include <string>
#include <vector>

#include "datasets/dataset.h"
#include "models/trainer.h"
#include "watermark/verify/keys_file.h"

namespace signet {

struct UchidaKeys {
  std::string model, layer, dataset, owner;
  Tensor X;  // float32 [T, M]
  Tensor b;  // float32 [T], 0/1
  float lambda = 0.01f;
  Normalization norm;
  ModelConfig config;  // of the marked model: builds a suspect file without Signet metadata
  std::map<std::string, std::string> extra;
  int64_t bits() const { return X.size(0); }
};

struct UchidaEvidence {
  double ber = 1;
  int64_t matches = 0, total = 0;
  double p_value = 1;
};

// The weight layers a mark can go in: Conv2d weights (4-D) when the model has any, else Linear
// weights (2-D), in registration order.
std::vector<std::string> uchida_candidate_layers(const Model& model);
// The default: the middle candidate (index (n - 1) / 2): fc2.weight of mnist-mlp, the middle
// convolution of cifar10-cnn and of a wide ResNet.
std::string uchida_default_layer(const Model& model);
// The parameter `layer` of the model; an Error listing the candidates when it has none or it is
// not a 2-D or 4-D weight.
Tensor uchida_weight(const Model& model, const std::string& layer);
// w: the mean over filters of the flattened kernel weights, [M] (differentiable).
Tensor uchida_carrier(const Tensor& weight);
// lambda * sum_j BCE(sigmoid((X w)_j), b_j) (differentiable in the weight).
Tensor uchida_regularizer(const Tensor& weight, const Tensor& X, const Tensor& b, float lambda);

// Keys for `layer` of the model (empty: the default layer): X and b drawn from rng (b from the
// owner string when given). Error when bits exceed the carrier's length M (the projections
// could then not realise every signature).
UchidaKeys uchida_key_generation(const Model& model, const std::string& layer, int64_t bits, float lambda,
                                 const std::string& owner, Rng& rng);
UchidaEvidence extract_uchida(const Model& model, const UchidaKeys& keys);
// Trains `model` with the regularizer (from its current weights).
TrainResult embed_uchida(Model& model, const Dataset& train, const Normalization& norm, const UchidaKeys& keys,
                         TrainConfig cfg);

NamedTensors uchida_keys_tensors(const UchidaKeys& keys);
UchidaKeys uchida_keys_from_file(const KeysFile& file);

}  // namespace signet
