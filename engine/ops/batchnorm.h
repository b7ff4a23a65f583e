// Batch normalisation (PyTorch's F.batch_norm), float32, channels at dim 1.
//
// batch_norm(x [N, C, *], weight [C] or undefined (= ones), bias [C] or undefined (= zeros),
//            running_mean [C] or undefined, running_var [C] or undefined,
//            training, momentum = 0.1, eps = 1e-5) -> y of x's shape
// x is [N, C] (BatchNorm1d) or [N, C, H, W] (BatchNorm2d); any [N, C, *] works. Statistics are
// per channel c over the m = N * prod(*) elements of that channel.
//   training: mean_c = sum x / m, var_c = sum (x - mean_c)^2 / m (biased, for normalising);
//     y = (x - mean_c) / sqrt(var_c + eps) * weight_c + bias_c.
//     The running statistics (when given) are updated in place, exactly as PyTorch:
//       running_mean = (1 - momentum) running_mean + momentum mean_c
//       running_var  = (1 - momentum) running_var  + momentum var_c * m / (m - 1)  (unbiased)
//     m must be > 1 (PyTorch's "Expected more than 1 value per channel when training").
//   eval (training = false): the same formula with running_mean / running_var (both required),
//     which are not changed.
// Gradients (training; xhat = (x - mean) / sqrt(var + eps), sums over each channel's m values):
//   dbias = sum g;  dweight = sum g xhat;
//   dx = weight / sqrt(var + eps) * (g - sum g / m - xhat * sum(g xhat) / m)
//   eval: dx = g * weight / sqrt(running_var + eps); dweight, dbias as above with running xhat.
// Backward runs one fused kernel when no graph of the gradient is being built; with
// create_graph it is composed from differentiable ops (mean, var and xhat recomputed from x),
// so second derivatives are right. No gradient flows to the running statistics.
//
// batch_norm_relu(same arguments) = relu(batch_norm(...)) in one pass over memory each way: the
// forward writes max(0, y) without storing y; the backward masks the incoming gradient where
// y <= 0 (recomputing y = x scale + shift per element, the forward's own expression) inside the
// normalisation's first pass, so the ReLU's separate read-mask-write of the whole activation
// is gone. On a GPU it runs the two ops.
#pragma once
#include "engine/tensor.h"

namespace signet {

Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                  const Tensor& running_var, bool training, double momentum = 0.1, double eps = 1e-5);
Tensor batch_norm_relu(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                       const Tensor& running_var, bool training, double momentum = 0.1, double eps = 1e-5);

namespace cpu {
// x viewed as [N, C, S] (contiguous). Per-channel mean and biased variance (two passes).
void batch_norm_stats_ref(const float* x, int64_t N, int64_t C, int64_t S, float* mean, float* var);
void batch_norm_stats_fast(const float* x, int64_t N, int64_t C, int64_t S, float* mean, float* var);
// y = x * scale[c] + shift[c]; with relu, max(0, that).
void batch_norm_apply_ref(const float* x, int64_t N, int64_t C, int64_t S, const float* scale,
                          const float* shift, float* y, bool relu = false);
void batch_norm_apply_fast(const float* x, int64_t N, int64_t C, int64_t S, const float* scale,
                           const float* shift, float* y, bool relu = false);
// The fused backward. xhat = (x - mean[c]) * invstd[c]; weight may be null (ones).
// training: dx = weight invstd (g - mean(g) - xhat mean(g xhat)); eval: dx = weight invstd g.
// Any of dx, dweight, dbias may be null (not wanted). relu_scale / relu_shift (both or neither):
// the forward's scale and shift when a ReLU was fused into it; g then counts only where
// x * relu_scale[c] + relu_shift[c] > 0.
void batch_norm_backward_ref(const float* g, const float* x, int64_t N, int64_t C, int64_t S,
                             const float* mean, const float* invstd, const float* weight, bool training,
                             float* dx, float* dweight, float* dbias, const float* relu_scale = nullptr,
                             const float* relu_shift = nullptr);
void batch_norm_backward_fast(const float* g, const float* x, int64_t N, int64_t C, int64_t S,
                              const float* mean, const float* invstd, const float* weight, bool training,
                              float* dx, float* dweight, float* dbias, const float* relu_scale = nullptr,
                              const float* relu_shift = nullptr);
// Per channel: invstd = 1 / sqrt(var + eps), scale = weight invstd, shift = bias - mean scale
// (weight, bias may be null: ones, zeros).
void batch_norm_channel(const float* mean, const float* var, const float* weight, const float* bias, double eps,
                        int64_t C, float* invstd, float* scale, float* shift);
// PyTorch's update of the running statistics: r <- (1 - momentum) r + momentum * batch value,
// the variance's batch value times unbias = m / (m - 1).
void batch_norm_running_update(float* running_mean, float* running_var, const float* mean, const float* var,
                               double momentum, double unbias, int64_t C);
}  // namespace cpu

}  // namespace signet
