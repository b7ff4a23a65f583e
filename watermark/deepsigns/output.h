// DeepSigns output-layer watermark (paper Section 3.2, Algorithm 2, Eq. 4-5): a 1-bit,
// black-box watermark. The owner fine-tunes a converged model so that K secret random inputs
// get K secret random labels; a suspect model is queried with the inputs (labels only) and is
// found marked when it makes few enough mismatches.
//
// Embedding (embed_output), on a trained ("unmarked") model:
//  1 Key Generation 1: K' = 20 K candidate inputs, every pixel uniform in [0, 1] (the data's
//    pixel range; normalised like the model's inputs when fed to it).
//      key_search "density" (the paper): candidates are kept only in rarely explored regions of
//        the second-to-last layer: PCA of that layer's training activations (fit_pca, 95% of the
//        variance), eps-ball counts of the training activations around each candidate's
//        projected activation (density_counts), accept count < threshold, redraw the rest (see
//        key_search.h for eps and the threshold).
//      key_search "sparsest": the same density model, but the K' candidates farthest from the
//        training activations (k-th nearest neighbour distance) out of 5 K' random ones: the
//        threshold comes from the candidates' own densities (key_search.h, sparsest_key_search).
//      key_search "random" (the released code's variant): candidates are not filtered.
//    Labels: uniform over the C classes, independent of the inputs (what Eq. 4 assumes).
//  2 Fine-tuning: the model is trained on a mixture of the training data (all of it by default,
//    as the paper's Figure 5 stacks X_key on X_train; or a random subset of finetune_subset
//    images) and the K' keys, each key repeated key_repeat times per epoch (default: so that
//    keys are about 1/6 of the mixture, 30 copies for 60,000 images and K' = 400; measured on
//    Fashion-MNIST: all data + keys keeps test accuracy (+0.01 points, 2 epochs), a 10,000-image
//    subset costs -0.55 points and 7 epochs), with the original
//    optimizer (SGD, momentum 0.9, weight decay 5e-4) at a tenth of the original learning rate
//    (0.005 for the default 0.05), constant, one epoch at a time, until at least 99% of the K'
//    keys are predicted with their labels or the epoch limit is reached. (Each epoch is one
//    train_model call: momentum restarts at epoch boundaries.)
//  3 Key Generation 2: keep the candidates that the fine-tuned (marked) model predicts right AND
//    the original (unmarked) model predicted wrong; select K of them at random. Error, saying
//    what to change, when fewer than K survive.
// Verification (verify_output) through a black-box label Oracle:
//    m = count_response_mismatch(oracle labels of X_key, Y_key)
//    theta = compute_mismatch_threshold(p, K, C), p = 0.999 (the paper's decision threshold)
//    detected when m < theta (paper Figure 5: `WM_detected = 1 if m < θ`)
//    p-value = P[Binomial(K, 1/C) >= K - m] (chance of as many matches by an unmarked model).
//
// Eq. (5), read exactly: P(N_k > n_k | O) = 1 - sum_{k=0}^{n_k} binom(K, k) (1/C)^(K-k) (1-1/C)^k.
// The summand is the probability of exactly k MISmatches (K - k matches at 1/C each), so the sum
// is P[M <= n_k] for the mismatch count M ~ Binomial(K, 1 - 1/C) of an unmarked model, and
// Eq. (5) = P[M > n_k]. theta is the smallest n_k at which Eq. (5) falls below p, i.e.
//    theta = min { n : P[M <= n] > 1 - p },
// and a model is declared marked when m < theta, i.e. m <= theta - 1, so that an unmarked model
// is declared marked with probability P[M <= theta - 1] <= 1 - p (0.1% for p = 0.999).
// This reproduces the paper's Table 4 thresholds exactly: theta = 13 (K = 20) and 21 (K = 30)
// for C = 10, and 19 and 29 for ImageNet's C = 1000. detected <=> p-value <= 1 - p.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "datasets/dataset.h"
#include "models/trainer.h"
#include "watermark/deepsigns/key_search.h"
#include "watermark/verify/keys_file.h"
#include "watermark/verify/oracle.h"

namespace signet {

struct OutputConfig {
  int64_t keys = 20;                  // K
  int64_t candidates = 0;             // K' (0: 20 K, the paper's)
  std::string key_search = "density"; // density | sparsest | random
  std::string layer;                  // density tap; empty: the second-to-last layer
  DensityConfig density;
  double confidence = 0.999;          // p of Eq. (5)
  int64_t finetune_subset = 0;        // training images mixed with the keys (0 or > N: all)
  int64_t key_repeat = 0;             // copies of each key per fine-tuning epoch (0: auto)
  double key_accuracy_target = 0.99;  // stop fine-tuning once this share of the K' keys is right
};

struct OutputKeys {
  std::string model, layer, dataset, key_search;
  Tensor key_inputs;   // float32 [K, C, H, W], pixels in [0, 1] (not normalised)
  Tensor key_labels;   // int64 [K]
  Tensor key_density;  // int64 [K]: training activations in each key's eps-ball (density search)
  PcaModel pca;        // density search only (components undefined otherwise)
  float eps = 0;
  int64_t density_threshold = 0;
  int64_t num_classes = 10;  // C
  int64_t candidates = 0;    // K'
  double confidence = 0.999; // p
  int64_t theta = 0;         // detected when mismatches < theta
  Normalization norm;        // the model's input normalisation at embedding time
  std::map<std::string, std::string> extra;  // model hashes and other metadata
  int64_t size() const { return key_labels.numel(); }
};

struct OutputCandidates {
  Tensor inputs;               // float32 [K', C, H, W]
  Tensor labels;               // int64 [K'], uniform over classes
  std::vector<int64_t> density;  // eps-ball counts (density search; empty for random)
  int64_t drawn = 0, rounds = 0; // density search: candidates drawn and rounds
  double seconds = 0;            // time of the search (density model + search)
};

struct OutputEmbedReport {
  std::string layer;
  int64_t candidates = 0, drawn = 0, rounds = 0, pca_components = 0;
  double explained = 0;
  float eps = 0;
  int64_t density_threshold = 0;
  double search_seconds = 0, finetune_seconds = 0;
  int64_t finetune_epochs = 0, mixture_size = 0, key_repeat = 0;
  double candidate_key_accuracy = 0;  // share of the K' keys the marked model predicts right
  int64_t right_on_marked = 0, wrong_on_unmarked = 0, survivors = 0;  // Key Generation 2
  std::vector<double> epoch_key_accuracy;
};

struct OutputEvidence {
  int64_t keys = 0, matches = 0, mismatches = 0, theta = 0, num_classes = 0;
  double p_value = 1, confidence = 0.999;
  bool detected = false;
  std::vector<int64_t> responses;
};

// The tap feeding the model's last Linear layer (skipping dropout): relu2 for mnist-mlp.
std::string penultimate_layer(Model& model);

// Paper API names.
int64_t count_response_mismatch(const Tensor& predictions, const Tensor& key_labels);
int64_t compute_mismatch_threshold(double p, int64_t K, int64_t C);
// P[Binomial(K, 1/C) >= K - mismatches].
double mismatch_p_value(int64_t K, int64_t C, int64_t mismatches);

// Step 1 (Key Generation 1). Fills keys-to-be metadata (layer, PCA, eps, threshold) in `keys`.
OutputCandidates generate_key_candidates(Model& model, const Dataset& train, const Normalization& norm,
                                         const OutputConfig& cfg, OutputKeys& keys, Rng& rng);
// Steps 1-3 on a trained model: fine-tunes `model` in place (it becomes the marked model) and
// returns the selected keys. train_cfg gives the optimizer, learning rate, batch size and the
// epoch limit (train_cfg.epochs); its seed is the fine-tuning data order. Every key choice
// (candidates, labels, fine-tuning subset, Key Generation 2) draws from key_rng.
OutputKeys embed_output(Model& model, const Dataset& train, const Normalization& norm, const OutputConfig& cfg,
                        const TrainConfig& train_cfg, Rng& key_rng, OutputEmbedReport* report = nullptr);

OutputEvidence verify_output(Oracle& oracle, const OutputKeys& keys);

// Keys file (safetensors, mode 0600, atomic): key inputs and labels, PCA mean/projection, eps,
// threshold, K, C, theta, p, seed, model name and hashes. Returns the file's SHA-256.
std::string save_output_keys(const std::string& path, const OutputKeys& keys);
OutputKeys load_output_keys(const std::string& path, std::string* sha256 = nullptr);
// The same in parts, for the Scheme (watermark/scheme.h): tensors + metadata, and back.
NamedTensors output_keys_tensors(const OutputKeys& keys);
OutputKeys output_keys_from_file(const KeysFile& file);

}  // namespace signet
