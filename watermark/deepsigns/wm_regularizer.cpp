#include "watermark/deepsigns/wm_regularizer.h"

#include <set>

#include "engine/autograd.h"
#include "engine/ops/binary.h"
#include "engine/ops/dispatch.h"
#include "engine/ops/index.h"

namespace signet {

Tensor WM_activity_regularizer(const Tensor& f, const Tensor& y, const Tensor& mu, const std::vector<int64_t>& T,
                               const Tensor& A, const Tensor& b, float lambda1, float lambda2, float margin,
                               WmRegularizerParts* parts) {
  SIGNET_DISPATCH("WM_activity_regularizer", {f, y, mu, A, b});
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
  const Tensor fc = f.contiguous(), yc = y.contiguous(), muc = mu.contiguous(), Ac = A.contiguous(), bc = b.contiguous();
  const int64_t bad = cpu::first_outside(yc.i64(), B, S);
  SIGNET_CHECK(bad < 0, "WM_activity_regularizer: label {} outside [0, {})", bad < 0 ? 0 : yc.i64()[bad], S);
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
