// Permutation-robust extraction of the DeepSigns hidden-layer mark (beyond the paper).
//
// The feature-permutation attack (watermark/attacks/attacks.h, permute_units) reorders a hidden
// layer's units and the next layer's inputs: the function is unchanged, but the per-unit mean
// activations that carry the signature are shuffled, so sigmoid(mu A) reads random bits.
// In the white-box setting the owner can undo it: run the key inputs X_key through its own
// marked model (the reference, R [K, M]: activations of the watermarked layer) and through the
// suspect (S [K, M]), and find the assignment pi of suspect units to reference units minimising
//     sum_j || R[:, j] - S[:, pi(j)] ||^2      (an optimal assignment, Hungarian algorithm),
// then extract from S[:, pi]. Units that behave alike on X_key may be swapped, but then their
// contributions to the class means are alike too, so the bits do not change.
//
// The reference activations are stored in the keys file at embedding time (tensor
// "ref_activations", float32 [K, M]); keys files made before that need the marked model
// (`signet extract --align-to MARKED.safetensors`).
//
// INTEGRITY WARNING: the aligned bits are not ownership evidence on their own, and the
// Binomial(N, 1/2) p-value in the returned HiddenEvidence is NOT valid for them. The assignment
// searches M! orderings for the one closest to the owner's reference, whose class means carry
// the signature: any model with a similar spread of unit activations is pulled onto the
// reference, bits included. Measured (mnist-mlp, Fashion-MNIST, 32 bits in relu2, K = 60):
// aligned BER 0 on all 5 independently trained unmarked models (seeds 2-6; plain BER 0.41-0.56);
// aligning centred or standardised columns instead still gives BER 0.03-0.25 on them. The
// alignment residual (align_and_extract) tells a permuted copy from an unrelated model only by
// scale there (relative residual <= 0.88 for a permuted copy after 6 fine-tuning epochs, 13-15
// for the unrelated models, whose activations are 4.6x larger), and scale is the attacker's to
// change (ReLU units can be rescaled without changing the function). Use the aligned extraction
// to show that a suspect carries the reference's signature after a permutation, next to an
// independent proof, and calibrate it on unmarked models before drawing conclusions.
#pragma once
#include <vector>

#include "watermark/deepsigns/hidden.h"

namespace signet {

// Optimal assignment for a square cost matrix cost [n, n] (float32 or any, read as double):
// returns assign[row] = column minimising the total cost (Hungarian / Jonker-Volgenant, O(n^3)).
std::vector<int64_t> optimal_assignment(const Tensor& cost);

// The column order of `suspect` [K, M] that best matches `reference` [K, M] (squared distance
// of activation columns): perm[j] = suspect column aligned to reference column j.
std::vector<int64_t> align_units(const Tensor& reference, const Tensor& suspect);

// The same for a layer whose M features form `units` units of M / units adjacent columns each
// (a Conv2d tap [N, C, H, W] flattened channel-major: units = C): perm[j] = suspect unit aligned
// to reference unit j, by the squared distance summed over the unit's columns. units = M is
// align_units.
std::vector<int64_t> align_unit_groups(const Tensor& reference, const Tensor& suspect, int64_t units);

// extract_hidden after aligning the suspect layer's units to `reference` [K, M] (activations
// of the owner's marked model on keys.key_inputs). perm_out (optional) receives the alignment
// (per unit: per channel for a Conv2d tap).
HiddenEvidence extract_hidden_aligned(Model& suspect, const HiddenKeys& keys, const Tensor& reference,
                                      std::vector<int64_t>* perm_out = nullptr);

// The same, with what a report needs to judge it.
struct AlignedExtraction {
  HiddenEvidence evidence;    // after alignment (p_value: see the integrity warning above)
  std::vector<int64_t> perm;  // per unit, as perm_out
  int64_t units = 0;          // M, or the channels of a Conv2d tap
  // sum_j ||R[:, j] - S[:, perm(j)]||^2 / sum_j ||R[:, j]||^2 over the flattened features:
  // 0 for an exact permuted copy (up to float rounding).
  double residual = 0;
};
AlignedExtraction align_and_extract(Model& suspect, const HiddenKeys& keys, const Tensor& reference);

}  // namespace signet
