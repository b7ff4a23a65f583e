#include "watermark/deepsigns/wm_regularizer.h"

#include <set>

#include "engine/autograd.h"
#include "engine/ops/binary.h"
#include "engine/ops/dispatch.h"
#include "engine/ops/index.h"
#include "engine/ops/loss.h"
#include "engine/ops/matmul.h"
#include "engine/ops/reduce.h"
#include "engine/ops/shape.h"
#include "engine/ops/unary.h"

namespace signet {

namespace {
// The same loss on a device, written with device ops (their gradients by autograd): the chosen
// centres' attraction over the batch's chosen-class samples, the capped separation of chosen and
// other centres, and the signature's BCE on logits mu_T A (cuBLAS). Summed in float, where the
// CPU kernel sums in double.
Tensor regularizer_on_device(const Tensor& f, const Tensor& y, const Tensor& mu, const std::vector<int64_t>& T,
                             const Tensor& A, const Tensor& b, float l1, float l2, float margin,
                             WmRegularizerParts* parts) {
  const Device dev = f.device();
  const int64_t S = mu.size(0), M = mu.size(1), s = static_cast<int64_t>(T.size()), N = A.size(1);
  std::vector<float> chosen(static_cast<size_t>(S), 0.0f);
  std::vector<int64_t> others;
  for (int64_t t : T) chosen[static_cast<size_t>(t)] = 1.0f;
  for (int64_t j = 0; j < S; ++j)
    if (chosen[static_cast<size_t>(j)] == 0.0f) others.push_back(j);
  const Tensor t_idx = Tensor::from_vector_i64(T, {s}).to(dev);
  const Tensor o_idx = Tensor::from_vector_i64(others, {S - s}).to(dev);
  const Tensor attract = WM_chosen_attraction(f, y, mu, T);
  // Separation: mean over (chosen, other) pairs of min(||mu_i - mu_j||^2, margin).
  const Tensor mu_T = index_select(mu, 0, t_idx), mu_O = index_select(mu, 0, o_idx);
  const Tensor pair = reshape(mu_T, {s, 1, M}) - reshape(mu_O, {1, S - s, M});
  Tensor d2 = sum(pair * pair, {2});
  if (margin > 0) d2 = d2 - relu(add_scalar(d2, -margin));  // min(d2, margin): no gradient once capped
  const Tensor separate = mean(d2);
  // Signature: the summed BCE of sigmoid(mu_T A) against b.
  const Tensor bce = mul_scalar(bce_with_logits(matmul(mu_T, A), b), static_cast<float>(s * N));
  if (parts) *parts = {attract.item(), separate.item(), bce.item()};
  return add(mul_scalar(attract - separate, l1), mul_scalar(bce, l2));
}
}  // namespace

Tensor WM_chosen_attraction(const Tensor& f, const Tensor& y, const Tensor& mu, const std::vector<int64_t>& T) {
  const int64_t S = mu.size(0);
  std::vector<float> chosen(static_cast<size_t>(S), 0.0f);
  for (int64_t t : T) chosen[static_cast<size_t>(t)] = 1.0f;
  const Tensor in_K = index_select(Tensor::from_vector(chosen, {S}).to(f.device()), 0, y);
  const Tensor d = f - index_select(mu, 0, y);
  const Tensor K = sum(in_K);
  // Sum over chosen-class samples of ||f_n - mu_{y_n}||^2, over max(K, 1).
  return div(sum(sum(d * d, {1}) * in_K), add_scalar(relu(add_scalar(K, -1.0f)), 1.0f));
}

Tensor WM_shard_correction(const Tensor& f, const Tensor& y, const Tensor& mu, const std::vector<int64_t>& T,
                           float lambda1, const Tensor& global_y, int64_t global_size) {
  if (!global_y.defined() || global_size <= y.numel()) return Tensor();  // the whole batch: nothing to correct
  auto chosen_count = [&T](const Tensor& labels) {
    const Tensor l = labels.to(Device::cpu()).contiguous();
    return cpu::count_in_set(l.i64(), l.numel(), T);
  };
  const int64_t k_here = chosen_count(y), k_all = chosen_count(global_y);
  if (k_here == 0 || k_all == 0) return Tensor();  // this shard's attraction is zero already
  const double c = (static_cast<double>(k_here) / static_cast<double>(k_all)) /
                   (static_cast<double>(y.numel()) / static_cast<double>(global_size));
  return mul_scalar(WM_chosen_attraction(f, y, mu, T), static_cast<float>(lambda1 * (c - 1.0)));
}

void WM_track_other_centres(Tensor& mu, const Tensor& f, const Tensor& y, const std::vector<bool>& chosen,
                            bool nonnegative) {
  SIGNET_DISPATCH_CPU_OR_CUDA("WM_track_other_centres", {mu, f, y});
  NoGradGuard ng;
  const int64_t S = mu.size(0), M = mu.size(1), B = f.size(0);
  SIGNET_CHECK(mu.is_contiguous() && static_cast<int64_t>(chosen.size()) == S && f.dim() == 2 && f.size(1) == M &&
                   y.numel() == B,
               "WM_track_other_centres: centres {}, activations {}, labels {}, {} class flags", mu.str(), f.str(),
               y.str(), chosen.size());
  if (mu.device().is_cpu()) {
    const Tensor fc = f.contiguous(), yc = y.contiguous();
    cpu::track_other_centres(mu.f32(), S, M, fc.f32(), yc.i64(), B, chosen, nonnegative);
    return;
  }
  // On a device, with device ops: per-class sums and counts by index_add, then the moving
  // average on the rows of the unchosen classes present in the batch (float sums).
  Tensor m = nonnegative ? relu(mu.detach()) : mu.detach();
  std::vector<float> unchosen(static_cast<size_t>(S));
  for (int64_t c = 0; c < S; ++c) unchosen[static_cast<size_t>(c)] = chosen[static_cast<size_t>(c)] ? 0.0f : 1.0f;
  const Tensor counts = index_add(Tensor::zeros({S}, DType::F32, f.device()), 0, y, Tensor::ones({B}, f.device()));
  const Tensor sums = index_add(Tensor::zeros({S, M}, DType::F32, f.device()), 0, y, f.detach());
  const Tensor present = rsub_scalar(1.0f, relu(rsub_scalar(1.0f, counts)));  // min(count, 1)
  const Tensor w = reshape(present * Tensor::from_vector(unchosen, {S}).to(f.device()), {S, 1});  // 1: update
  const Tensor mean = sums / reshape(add_scalar(relu(add_scalar(counts, -1.0f)), 1.0f), {S, 1});
  mu.copy_(m + w * (mean - m) * 0.1f);
}

Tensor WM_activity_regularizer(const Tensor& f, const Tensor& y, const Tensor& mu, const std::vector<int64_t>& T,
                               const Tensor& A, const Tensor& b, float lambda1, float lambda2, float margin,
                               WmRegularizerParts* parts) {
  SIGNET_DISPATCH_CPU_OR_CUDA("WM_activity_regularizer", {f, y, mu, A, b});
  SIGNET_CHECK(f.dim() == 2 && f.dtype() == DType::F32,
               "WM_activity_regularizer: the marked layer's activation must be [batch, features], got {} "
               "(flatten convolutional activations first)", f.str());
  const int64_t B = f.size(0), M = f.size(1);
  SIGNET_CHECK(y.dtype() == DType::I64 && y.dim() == 1 && y.size(0) == B, "WM_activity_regularizer: labels must be int64 [{}]", B);
  SIGNET_CHECK(mu.dim() == 2 && mu.size(1) == M, "WM_activity_regularizer: centres {} do not match {} features",
               shape_str(mu.shape()), M);
  const int64_t S = mu.size(0), s = static_cast<int64_t>(T.size());
  SIGNET_CHECK(s >= 1 && s < S, "WM_activity_regularizer: choose between 1 and {} classes, got {}", S - 1, s);
  std::set<int64_t> seen;
  for (int64_t t : T) SIGNET_CHECK(t >= 0 && t < S && seen.insert(t).second, "WM_activity_regularizer: bad chosen class {}", t);
  SIGNET_CHECK(A.dim() == 2 && A.size(0) == M, "WM_activity_regularizer: projection {} should be [{}, N]", shape_str(A.shape()), M);
  const int64_t N = A.size(1);
  SIGNET_CHECK(b.dim() == 2 && b.size(0) == s && b.size(1) == N, "WM_activity_regularizer: signature {} should be [{}, {}]",
               shape_str(b.shape()), s, N);
  {
    const Tensor yh = y.to(Device::cpu()).contiguous();  // the labels, checked on the host
    const int64_t bad = cpu::first_outside(yh.i64(), B, S);
    SIGNET_CHECK(bad < 0, "WM_activity_regularizer: label {} outside [0, {})", bad < 0 ? 0 : yh.i64()[bad], S);
  }
  if (f.device().is_cuda()) return regularizer_on_device(f, y, mu, T, A, b, lambda1, lambda2, margin, parts);
  const Tensor fc = f.contiguous(), yc = y.contiguous(), muc = mu.contiguous(), Ac = A.contiguous(), bc = b.contiguous();
  Tensor gf = Tensor::empty({B, M}), gmu = Tensor::empty({S, M});
  const double v = cpu::wm_regularizer_fast(fc.f32(), yc.i64(), B, M, muc.f32(), S, T, Ac.f32(), N, bc.f32(), lambda1,
                                            lambda2, margin, gf.f32(), gmu.f32(), parts);
  Tensor out = Tensor::scalar(static_cast<float>(v));
  if (needs_grad({f, mu})) {
    // The gradients were computed with the value (one pass); backward only scales them.
    record(out, "WM_activity_regularizer", {f, mu}, [gf, gmu](const Tensor& g) {
      SIGNET_CHECK(!grad_mode_enabled(), "WM_activity_regularizer has no second derivative (create_graph through it)");
      // The usual incoming gradient is exactly 1 (the regularizer added to the loss): hand the
      // stored gradients over as they are. Autograd never writes into a gradient in place, so
      // they are not aliased into trouble; skipping two full passes over [B, M] and [S, M] is
      // all of the backward's cost (bench/RESULTS.md).
      if (g.numel() == 1 && g.item() == 1.0f) return std::vector<Tensor>{gf, gmu};
      return std::vector<Tensor>{mul(gf, g), mul(gmu, g)};
    });
  }
  return out;
}

}  // namespace signet
