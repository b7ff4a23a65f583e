// WM_activity_regularizer: the DeepSigns hidden-layer embedding loss (paper Eq. 2 and 3) as one
// fused op over the activations already in memory.
//
// Inputs:  f    [B, M]  activations of the marked layer for the batch (the tap, in the graph)
//          y    [B]     int64 labels of the batch
//          mu   [S, M]  Gaussian centres, one per class (a trainable parameter)
//          T            the s chosen classes (distinct, in [0, S))
//          A    [M, N]  secret projection, i.i.d. N(0, 1)       (constant)
//          b    [s, N]  signature bits as 0/1 floats            (constant)
// Output: scalar  lambda1 * loss1 + lambda2 * loss2, where
//   loss1 = (1/|K|) sum_{n in K} ||f_n - mu_{y_n}||^2                      K = batch samples with y in T
//         - (1/(s (S-s))) sum_{i in T} sum_{j not in T} min(||mu_i - mu_j||^2, margin)
//   loss2 = - sum_{k<s, j<N} [ b_kj ln G_kj + (1 - b_kj) ln(1 - G_kj) ],  G = sigmoid(mu_T A)
//
// Departures from the paper, and why: the paper writes loss1 as plain sums over samples and
// over centre pairs. A sum over samples makes the term scale with the batch size, so both sums
// are averaged here (lambda1 = 0.01 means the same thing at any batch size). The separation
// term as written is unbounded below: the network can scale activations and centres apart
// forever, and does (measured: the loss ran to -18 and accuracy fell to 58% in 5 epochs on
// Fashion-MNIST). Each pair's squared distance is therefore capped at `margin`: centres are
// pushed apart until they are that far, then no further. margin <= 0 gives the paper's
// unbounded form. embed_hidden sets margin to twice the initial mean squared distance between
// the chosen and the other centres. loss2 is the paper's sum.
// Gradients flow to f and to the rows of mu (the caller decides which rows train).
//
// The backward is a fused kernel and is not itself differentiable (asking for a second
// derivative through it is an Error); no scheme needs one.
#pragma once
#include <vector>

#include "engine/tensor.h"

namespace signet {

struct WmRegularizerParts {
  double loss1_attract = 0, loss1_separate = 0, loss2 = 0;
};

Tensor WM_activity_regularizer(const Tensor& f, const Tensor& y, const Tensor& mu, const std::vector<int64_t>& T,
                               const Tensor& A, const Tensor& b, float lambda1, float lambda2, float margin,
                               WmRegularizerParts* parts = nullptr);

// The attraction part of loss1 alone, composed from ops (autograd, any device):
// (1/max(|K|, 1)) sum_{n in K} ||f_n - mu_{y_n}||^2 over the batch samples K whose class is in T.
Tensor WM_chosen_attraction(const Tensor& f, const Tensor& y, const Tensor& mu, const std::vector<int64_t>& T);

// Data parallelism: a rank holds a share (y, of global_size samples; global_y the whole step's
// labels) and the trainer weights its loss by |y| / global_size. The attraction is a mean over
// the step's chosen-class samples, so that weight is wrong for it; adding this term,
//   lambda1 * (c - 1) * attraction(share),   c = (K_share / K_step) / (|y| / global_size),
// makes the ranks' weighted sum equal the attraction over the whole step. Undefined (nothing to
// add) for a whole batch or a share with no chosen-class sample.
Tensor WM_shard_correction(const Tensor& f, const Tensor& y, const Tensor& mu, const std::vector<int64_t>& T,
                           float lambda1, const Tensor& global_y, int64_t global_size);

// The centres of the classes that carry no bits follow their batch means: for each such class in
// the batch, mu_c <- 0.9 mu_c + 0.1 mean of its activations (in place, no gradient). With
// nonnegative (a ReLU layer), every centre coordinate is first clamped at 0.
void WM_track_other_centres(Tensor& mu, const Tensor& f, const Tensor& y, const std::vector<bool>& chosen,
                            bool nonnegative);

namespace cpu {
// How many of the n labels are in T.
int64_t count_in_set(const int64_t* labels, int64_t n, const std::vector<int64_t>& T);
// WM_track_other_centres's loops (activations summed in double).
void track_other_centres(float* mu, int64_t S, int64_t M, const float* f, const int64_t* y, int64_t B,
                         const std::vector<bool>& chosen, bool nonnegative);
// Plain loops: the value and the gradients w.r.t. f and mu (gf [B,M], gmu [S,M] overwritten).
double wm_regularizer_ref(const float* f, const int64_t* y, int64_t B, int64_t M, const float* mu, int64_t S,
                          const std::vector<int64_t>& T, const float* A, int64_t N, const float* b, float l1,
                          float l2, float margin, float* gf, float* gmu, WmRegularizerParts* parts);
// Same contract, vectorised: GEMM for mu_T A and (G - b) A^T, simd distance loops.
double wm_regularizer_fast(const float* f, const int64_t* y, int64_t B, int64_t M, const float* mu, int64_t S,
                           const std::vector<int64_t>& T, const float* A, int64_t N, const float* b, float l1,
                           float l2, float margin, float* gf, float* gmu, WmRegularizerParts* parts);
}  // namespace cpu

}  // namespace signet
