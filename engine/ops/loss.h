// Loss functions, averaged over the batch (PyTorch's reduction='mean').
//
// cross_entropy(logits [N,C], target int64 [N]) = mean_n ( logsumexp(logits_n) - logits_n[t_n] )
//   Gradient w.r.t. logits: (softmax(logits) - onehot(t)) / N. A target outside [0, C) is an
//   Error naming the offending value. Fused: one pass computes log-sum-exp per row.
// bce_with_logits(x, t) with t in [0, 1], same shape: mean( max(x,0) - x t + log(1 + e^{-|x|}) )
//   Gradients: x -> (sigmoid(x) - t) / n; t -> -x / n.
// Both return a 0-d tensor; a NaN or infinite loss is reported by the trainer, not here.
#pragma once
#include "engine/tensor.h"

namespace signet {

Tensor cross_entropy(const Tensor& logits, const Tensor& target);
Tensor bce_with_logits(const Tensor& x, const Tensor& target);
Tensor one_hot(const Tensor& target, int64_t classes);  // float32 [N, C]

namespace cpu {
// Sum (not mean) of per-row cross-entropy: plain loops / the vectorised fused version.
double cross_entropy_sum_ref(const float* logits, const int64_t* t, int64_t N, int64_t C);
double cross_entropy_sum_fast(const float* logits, const int64_t* t, int64_t N, int64_t C);
// out [n, classes] = one-hot rows of labels (each in [0, classes), checked by the caller).
void one_hot(const int64_t* labels, int64_t n, int64_t classes, float* out);
// Binary labels as floats: t[i] = y[i]; returns the first position whose label is not 0 or 1
// (t is then partly written), or -1.
int64_t labels_to_binary(const int64_t* y, int64_t n, float* t);
// How many a[i] == b[i]; how many (z[i] > 0) == (y[i] == 1) (a binary model's right answers).
int64_t count_equal(const int64_t* a, const int64_t* b, int64_t n);
int64_t count_sign_agreement(const float* z, const int64_t* y, int64_t n);
// Sum of the per-element BCE-with-logits losses, in double (engine/cpu/loss_cpu.cpp).
double bce_with_logits_sum(const float* x, const float* t, int64_t n);
}  // namespace cpu

}  // namespace signet
