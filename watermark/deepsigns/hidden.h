// DeepSigns hidden-layer watermark (paper Section 3.1, Algorithm 1): an N-bit signature carried
// by the mean activation (Gaussian centre) of s chosen classes at one hidden layer.
//
// Keys (secret, kept by the owner):  the layer, the chosen classes T, trigger inputs X_key (1% of
// the training images of those classes), the projection A [M, N] ~ N(0, 1), the signature
// b [s, N] (random from the key generator, or SHA-256 of an owner string so its origin can be shown),
// and the trained centres mu [S, M].
// Embedding: cross-entropy + WM_activity_regularizer on the layer's activations while training
//   from scratch or fine-tuning; mu starts at the class means of the layer's activations; the
//   chosen rows of mu are trained, the others track their class means (moving average).
// Extraction: get_activations of X_key, their mean per chosen class, sigmoid(mean A) > 0.5 ->
//   bits; compute_BER against b; p-value = P[Binomial(sN, 1/2) >= matches]; ownership is
//   claimed when p <= alpha (default 1e-6).
#pragma once
#include <map>
#include <string>
#include <vector>

#include "datasets/dataset.h"
#include "models/trainer.h"
#include "watermark/deepsigns/wm_regularizer.h"
#include "watermark/verify/keys_file.h"

namespace signet {

struct HiddenConfig {
  std::string layer = "relu2";  // the tap whose activations carry the mark
  int64_t bits = 32;            // N, bits per chosen class
  int64_t classes = 1;          // s, how many Gaussian classes carry the signature
  double key_fraction = 0.01;   // share of the chosen classes' training images in X_key
  float lambda1 = 0.01f, lambda2 = 0.01f;
  std::string owner;            // when set, b = bits of SHA-256(owner) (extended by counter)
};

struct HiddenKeys {
  std::string model, layer, dataset, owner;
  std::vector<int64_t> classes;  // T
  Tensor A;            // float32 [M, N]
  Tensor b;            // float32 [s, N], 0/1
  Tensor key_indices;  // int64 [K], into the training split
  Tensor key_inputs;   // float32 [K, C, H, W], pixels as in the data set (not normalised)
  Tensor key_labels;   // int64 [K]
  Tensor mu;           // float32 [S, M]
  // Activations of the marked layer on key_inputs right after embedding (get_activations):
  // the reference for permutation-robust extraction (watermark/deepsigns/align.h). Optional:
  // keys files made before it was stored do not have it.
  Tensor ref_activations;  // float32 [K, M], optional
  Normalization norm;  // applied to key_inputs before they reach the model
  float lambda1 = 0.01f, lambda2 = 0.01f;
  float margin = 0;    // separation cap of loss1 (set by embed_hidden from the initial centres)
  // After embedding: (chosen, other) centre pairs at or past the cap, of all such pairs (not saved).
  int64_t capped_pairs = 0, centre_pairs = 0;
  std::map<std::string, std::string> extra;  // more metadata (model hash, ...)
  int64_t bits() const { return A.size(1); }
};

struct HiddenEvidence {
  std::vector<int> extracted, signature;
  double ber = 1;
  int64_t matches = 0, total = 0;
  double p_value = 1;
};

// Signature bits from an owner string: SHA-256(owner), then SHA-256(owner || "#1"), ... .
std::vector<int> signature_from_owner(const std::string& owner, int64_t nbits);

std::vector<int64_t> subsample_training_data(const Dataset& train, const std::vector<int64_t>& classes,
                                             double fraction, Rng& rng);
HiddenKeys key_generation(Model& model, const Dataset& train, const Normalization& norm, const HiddenConfig& cfg,
                          Rng& rng);

// Activations of `layer` for raw inputs x (normalised here with norm), flattened to [K, M].
Tensor get_activations(Model& model, const Tensor& x, const Normalization& norm, const std::string& layer,
                       int64_t batch = 500);
// Mean activation per chosen class of X_key: [s, M].
Tensor key_class_means(Model& model, const HiddenKeys& keys);
std::vector<int> extract_WM_from_activations(const Tensor& means, const Tensor& A);
HiddenEvidence extract_hidden(Model& model, const HiddenKeys& keys);

// Trains `model` with the watermark (from its current weights: from scratch when freshly
// initialised, fine-tuning when loaded). Fills keys.mu and keys.ref_activations. cfg's
// taps/extra_loss are set here.
TrainResult embed_hidden(Model& model, const Dataset& train, const Normalization& norm, HiddenKeys& keys,
                         TrainConfig cfg);
// Several layers at once, each with its own keys: the regularizers are summed in one run.
TrainResult embed_hidden(Model& model, const Dataset& train, const Normalization& norm,
                         const std::vector<HiddenKeys*>& keys, TrainConfig cfg);

// Keys file: safetensors (A, b, classes, X_key indices/inputs/labels, mu, ref_activations when
// set) with JSON-able
// metadata, written atomically with mode 0600. Returns the file's SHA-256.
std::string save_hidden_keys(const std::string& path, const HiddenKeys& keys);
HiddenKeys load_hidden_keys(const std::string& path, std::string* sha256 = nullptr);
// The same in parts, for the Scheme (watermark/scheme.h): tensors + metadata, and back.
NamedTensors hidden_keys_tensors(const HiddenKeys& keys);
HiddenKeys hidden_keys_from_file(const KeysFile& file);

}  // namespace signet
