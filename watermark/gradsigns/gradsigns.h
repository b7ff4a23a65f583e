// GradSigns (Aramoon, Chen, Qu; MLSys 2021): an N-bit signature in the gradient of the
// cross-entropy with respect to the model's input.
//
// Keys (secret): the signature b [N] (random bits, or the SHA-256 bits of an owner string), a
// carrier set C of input positions (flat indices into C x H x W), the embedding key K [N, |C|]
// ~ N(0, 1), a target class T and a held key batch: `samples` training images of class T.
// G-bar: the mean over the key batch of d CE(f(x), T) / dx at the carriers, in raw pixel units
//   (the model's input normalisation divides by the channel's stddev: the chain rule multiplies
//   the gradient by 1 / stddev). A held key batch (not the class-T samples of each training
//   batch) because the verifier must query concrete inputs: embedding and verification then
//   read the same quantity, and every step sees all of them instead of the ~1/classes of a batch.
// Embedding: CE + lambda * BCE(sigmoid(K G-bar), b) (the BCE averaged over the bits); training
//   through G-bar differentiates the input gradient again (double backward). The key batch is
//   run in eval mode (what a verifier queries: no dropout, BatchNorm on running statistics).
// White-box extraction: exact G-bar, bits = (K G-bar > 0), BER, p-value = P[Bin(N, 1/2) >= matches].
// Black-box extraction: G-bar estimated from an Oracle's scores alone by forward differences on
//   the carriers: for each key sample, 1 query at x and 1 at x + h e_c per carrier (h = `step`,
//   -h where x_c + h would leave [0, 1]): (|C| + 1) queries per sample. The poster's released
//   code spends (64 + 1) x 50 = 3,250 queries for 64 carriers and 50 samples, the default here.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "datasets/dataset.h"
#include "models/trainer.h"
#include "watermark/verify/keys_file.h"
#include "watermark/verify/oracle.h"

namespace signet {

struct GradSignsConfig {
  int64_t bits = 32, carriers = 64, samples = 50;
  float lambda = 1.0f;
  double step = 0.01;   // finite-difference step, raw pixel units
  int64_t queries = 0;  // black-box budget; 0: (carriers + 1) x samples
  std::string owner;
};

struct GradSignsKeys {
  std::string model, dataset, owner;
  int64_t target = 0;
  Tensor K;            // float32 [N, |C|]
  Tensor b;            // float32 [N], 0/1
  Tensor carriers;     // int64 [|C|], flat indices into one input
  Tensor key_indices;  // int64 [n], into the training split
  Tensor key_inputs;   // float32 [n, C, H, W], raw pixels of class `target`
  float lambda = 1.0f;
  double step = 0.01;
  int64_t queries = 0;  // the query budget (resolved, > 0)
  int64_t num_classes = 10;
  Normalization norm;
  std::map<std::string, std::string> extra;
  int64_t bits() const { return K.size(0); }
};

struct GradSignsEvidence {
  double ber = 1;
  int64_t matches = 0, total = 0;
  double p_value = 1;
  int64_t queries = 0, samples = 0;  // black-box: queries spent, key samples used
};

GradSignsKeys gradsigns_key_generation(const Model& model, const Dataset& train, const GradSignsConfig& cfg, Rng& rng);

// G-bar [|C|] of the (normalised) inputs x: mean over rows of d CE(model(x), target) / dx at the
// carriers, times inv_std [|C|] (raw-pixel units). With create_graph the result is differentiable
// in the model's parameters. Runs the model as it is (the caller sets train/eval mode).
Tensor carrier_gradient(Model& model, const Tensor& x_normalised, int64_t target, const Tensor& carriers,
                        const Tensor& inv_std, bool create_graph);
// 1 / stddev of each carrier's channel ([|C|]; ones without a normalisation).
Tensor carrier_inv_std(const GradSignsKeys& keys, const Normalization& norm, const Shape& input_shape);
// lambda * BCE(sigmoid(K g), b).
Tensor gradsigns_regularizer(const Tensor& g, const Tensor& K, const Tensor& b, float lambda);

// Exact G-bar of a model (eval mode; inputs normalised with norm, the keys' when empty).
Tensor exact_gradient(Model& model, const Normalization& norm, const GradSignsKeys& keys);
struct ZerothOrderGradient {
  Tensor g;  // [|C|]
  int64_t queries = 0, samples = 0;
};
// G-bar estimated from oracle.scores() within keys.queries.
ZerothOrderGradient zeroth_order_gradient(Oracle& oracle, const GradSignsKeys& keys);
// Bits (K g > 0) compared with the signature.
GradSignsEvidence gradsigns_evidence(const Tensor& g, const GradSignsKeys& keys);

TrainResult embed_gradsigns(Model& model, const Dataset& train, const Normalization& norm, const GradSignsKeys& keys,
                            TrainConfig cfg);

NamedTensors gradsigns_keys_tensors(const GradSignsKeys& keys);
GradSignsKeys gradsigns_keys_from_file(const KeysFile& file);

}  // namespace signet
