#include "engine/ops/loss.h"

#include <Eigen/Core>
#include <cmath>

#include "engine/autograd.h"
#include "engine/cuda/runtime.h"
#include "engine/ops/binary.h"
#include "engine/ops/dispatch.h"
#include "engine/ops/index.h"
#include "engine/ops/reduce.h"
#include "engine/ops/softmax.h"
#include "engine/ops/unary.h"

namespace signet {

namespace cpu {
double cross_entropy_sum_ref(const float* logits, const int64_t* t, int64_t N, int64_t C) {
  double total = 0;
  for (int64_t n = 0; n < N; ++n) {
    const float* row = logits + n * C;
    double mx = -INFINITY;
    for (int64_t c = 0; c < C; ++c) mx = std::max(mx, static_cast<double>(row[c]));
    double s = 0;
    for (int64_t c = 0; c < C; ++c) s += std::exp(row[c] - mx);
    total += mx + std::log(s) - row[t[n]];
  }
  return total;
}

double cross_entropy_sum_fast(const float* logits, const int64_t* t, int64_t N, int64_t C) {
  double total = 0;
#pragma omp parallel for reduction(+ : total) if (N * C >= kParallelGrain) schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    Eigen::Map<const Eigen::ArrayXf> row(logits + n * C, C);
    const float mx = row.maxCoeff();
    const float s = (row - mx).exp().sum();
    total += static_cast<double>(mx) + std::log(static_cast<double>(s)) - row[t[n]];
  }
  return total;
}
}  // namespace cpu

Tensor one_hot(const Tensor& target, int64_t classes) {
  SIGNET_CHECK(target.dtype() == DType::I64 && target.dim() == 1, "one_hot: target must be 1-d int64, got {}", target.str());
  const Tensor tc = target.contiguous();
  const int64_t bad = cpu::first_outside(tc.i64(), tc.numel(), classes);
  SIGNET_CHECK(bad < 0, "label {} at position {} is outside [0, {})", bad < 0 ? 0 : tc.i64()[bad], bad, classes);
  Tensor out = Tensor::empty({target.numel(), classes});
  cpu::one_hot(tc.i64(), tc.numel(), classes, out.f32());
  return out;
}

namespace {
// The device path: the fused kernel gives each row's loss and the gradient in one pass; the mean
// is summed on the device. A bad label is found by the kernel and named here as on the CPU (one
// synchronising read of one word). The gradient is saved, so a second derivative through this
// op on a GPU is refused (the CPU path builds it from differentiable ops).
Tensor cross_entropy_cuda(const Tensor& logits, const Tensor& target, int64_t N, int64_t C) {
  const Tensor lc = logits.contiguous(), tc = target.contiguous();
  const Device dev = logits.device();
  const bool grad = needs_grad({logits});
  Tensor rows = Tensor::empty({N}, DType::F32, dev);
  Tensor d = grad ? Tensor::empty({N, C}, DType::F32, dev) : Tensor();
  Tensor bad = Tensor::zeros({1}, DType::I64).to(dev);
  cuda::kernels(dev).cross_entropy(lc.device_f32(), tc.device_i64(), rows.device_f32(),
                                   grad ? d.device_f32() : nullptr, 1.0f / static_cast<float>(N), N, C,
                                   reinterpret_cast<unsigned long long*>(bad.device_i64()), nullptr);
  if (const int64_t first = bad.to(Device::cpu()).i64()[0]; first != 0) {
    const int64_t row = N - first;
    throw Error(fmt::format("cross_entropy: label {} at position {} is outside [0, {})",
                            tc.to(Device::cpu()).i64()[row], row, C));
  }
  Tensor out;
  {
    NoGradGuard ng;
    out = mul_scalar(sum(rows), 1.0f / static_cast<float>(N));
  }
  if (grad) {
    record(out, "cross_entropy", {logits, target}, [d](const Tensor& g) {
      SIGNET_CHECK(!grad_mode_enabled(), "cross_entropy: a second derivative through it on {} is not built yet",
                   d.device().str());
      return std::vector<Tensor>{d * g, Tensor()};
    });
  }
  return out;
}
}  // namespace

Tensor cross_entropy(const Tensor& logits, const Tensor& target) {
  SIGNET_DISPATCH_CPU_OR_CUDA("cross_entropy", {logits, target});
  SIGNET_CHECK(logits.dim() == 2 && logits.dtype() == DType::F32, "cross_entropy: logits must be [N, C] float32, got {}", logits.str());
  SIGNET_CHECK(target.dtype() == DType::I64 && target.dim() == 1 && target.size(0) == logits.size(0),
               "cross_entropy: target must be int64 [{}], got {}", logits.size(0), target.str());
  const int64_t N = logits.size(0), C = logits.size(1);
  SIGNET_CHECK(N > 0, "cross_entropy: empty batch");
  if (logits.device().is_cuda()) return cross_entropy_cuda(logits, target, N, C);
  const Tensor lc = logits.contiguous(), tc = target.contiguous();
  const int64_t bad = cpu::first_outside(tc.i64(), N, C);
  SIGNET_CHECK(bad < 0, "cross_entropy: label {} at position {} is outside [0, {})", bad < 0 ? 0 : tc.i64()[bad], bad,
               C);
  Tensor out = Tensor::scalar(static_cast<float>(cpu_kernel(cpu::cross_entropy_sum_fast, cpu::cross_entropy_sum_ref)(lc.f32(), tc.i64(), N, C) / N));
  if (needs_grad({logits})) {
    record(out, "cross_entropy", {logits, target}, [logits, tc, N, C](const Tensor& g) {
      const Tensor d = (softmax(logits, 1) - one_hot(tc, C)) * (1.0f / static_cast<float>(N));
      return std::vector<Tensor>{d * g, Tensor()};
    });
  }
  return out;
}

Tensor bce_with_logits(const Tensor& x, const Tensor& t) {
  SIGNET_DISPATCH_CPU_OR_CUDA("bce_with_logits", {x, t});
  SIGNET_CHECK(x.shape() == t.shape() && x.dtype() == DType::F32 && t.dtype() == DType::F32,
               "bce_with_logits: logits {} and targets {} must be float32 of one shape", x.str(), t.str());
  const int64_t n = x.numel();
  SIGNET_CHECK(n > 0, "bce_with_logits: empty input");
  Tensor out;
  if (x.device().is_cuda()) {
    // Per-element losses from our kernel, their mean by the device's sum (float, not double).
    const Tensor xc = x.contiguous(), tc = t.contiguous();
    NoGradGuard no_grad;
    Tensor rows = Tensor::empty({n}, DType::F32, x.device());
    cuda::kernels(x.device())
        .bce_with_logits(xc.device_f32(), tc.device_f32(), rows.device_f32(), nullptr, nullptr, 0.0f, n, nullptr);
    out = mul_scalar(sum(rows), 1.0f / static_cast<float>(n));
  } else {
    const Tensor xc = x.contiguous(), tcv = t.contiguous();
    out = Tensor::scalar(static_cast<float>(cpu::bce_with_logits_sum(xc.f32(), tcv.f32(), n) / n));
  }
  if (needs_grad({x, t})) {
    const bool gx = x.requires_grad(), gt = t.requires_grad();
    record(out, "bce_with_logits", {x, t}, [x, t, n, gx, gt](const Tensor& g) {
      const float inv = 1.0f / static_cast<float>(n);
      return std::vector<Tensor>{gx ? (sigmoid(x) - t) * inv * g : Tensor(),
                                 gt ? neg(x) * inv * g : Tensor()};
    });
  }
  return out;
}

}  // namespace signet
