// Autograd and dispatch for batch_norm (see batchnorm.h).
#include "engine/ops/batchnorm.h"

#include <cmath>

#include "engine/autograd.h"
#include "engine/cuda/runtime.h"
#include "engine/ops/binary.h"
#include "engine/ops/dispatch.h"
#include "engine/ops/reduce.h"
#include "engine/ops/shape.h"
#include "engine/ops/unary.h"

namespace signet {

namespace {
void check_channel_vector(const Tensor& t, int64_t C, const char* what, const Shape& xs) {
  if (!t.defined()) return;
  SIGNET_CHECK(t.dtype() == DType::F32 && t.dim() == 1 && t.size(0) == C,
               "batch_norm: {} {} should be a float32 [{}] (one per channel of the input {})", what, t.str(), C,
               shape_str(xs));
}

// Every dim except the channel dim 1, and the [1, C, 1, ...] shape a per-channel vector
// broadcasts from.
std::vector<int64_t> reduce_dims(int64_t nd) {
  std::vector<int64_t> d{0};
  for (int64_t i = 2; i < nd; ++i) d.push_back(i);
  return d;
}
Shape channel_shape(int64_t nd, int64_t C) {
  Shape s(nd, 1);
  s[1] = C;
  return s;
}

// The backward composed of differentiable ops, for create_graph. In training the statistics
// are recomputed from x so that their dependence on x is part of the graph.
std::vector<Tensor> composed_backward(const Tensor& g, const Tensor& x, const Tensor& weight, bool gx, bool gw,
                                      bool gb, bool training, const Tensor& mean0, const Tensor& invstd0,
                                      double eps) {
  const int64_t nd = x.dim(), C = x.size(1);
  const std::vector<int64_t> dims = reduce_dims(nd);
  const Shape cs = channel_shape(nd, C);
  Tensor xhat, invstd;
  if (training) {
    const Tensor xc = x - mean(x, dims, true);
    const Tensor var = mean(xc * xc, dims, true);
    invstd = exp(mul_scalar(log(add_scalar(var, static_cast<float>(eps))), -0.5f));  // 1 / sqrt(var + eps)
    xhat = xc * invstd;
  } else {
    invstd = reshape(invstd0, cs);
    xhat = (x - reshape(mean0, cs)) * invstd;
  }
  Tensor dx, dw, db;
  if (gx) {
    const Tensor scale = weight.defined() ? reshape(weight, cs) * invstd : invstd;
    dx = training ? scale * (g - mean(g, dims, true) - xhat * mean(g * xhat, dims, true)) : g * scale;
  }
  if (gw) dw = sum(g * xhat, dims);
  if (gb) db = sum(g, dims);
  return {dx, dw, db};
}
// The device path: our kernels (kernels/batchnorm.cuh) for the statistics, the per-channel
// scale and shift with the running update, the apply, and the fused backward.
float* ptr_or_null(const Tensor& t) { return t.defined() ? t.device_f32() : nullptr; }

Tensor batch_norm_cuda(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                       const Tensor& running_var, bool training, double momentum, double eps) {
  for (const Tensor* t : {&x, &weight, &bias, &running_mean, &running_var})
    if (t->defined()) require_contiguous_on_device("batch_norm", *t);
  const Device dev = x.device();
  const cuda::KernelTable& k = cuda::kernels(dev);
  const int64_t N = x.size(0), C = x.size(1), S = C == 0 || N == 0 ? 0 : x.numel() / (N * C), m = N * S;
  Tensor mu = Tensor::empty({C}, DType::F32, dev), var = Tensor::empty({C}, DType::F32, dev);
  if (training) {
    k.batch_norm_stats(x.device_f32(), N, C, S, mu.device_f32(), var.device_f32(), nullptr);
  } else {  // snapshot: the buffers may be changed in place before backward runs
    mu.copy_(running_mean);
    var.copy_(running_var);
  }
  Tensor invstd = Tensor::empty({C}, DType::F32, dev), scale = Tensor::empty({C}, DType::F32, dev);
  Tensor shift = Tensor::empty({C}, DType::F32, dev);
  const bool update = training && running_mean.defined();
  k.batch_norm_channel(mu.device_f32(), var.device_f32(), ptr_or_null(weight), ptr_or_null(bias),
                       static_cast<float>(eps), invstd.device_f32(), scale.device_f32(), shift.device_f32(),
                       update ? running_mean.device_f32() : nullptr, update ? running_var.device_f32() : nullptr,
                       static_cast<float>(momentum), m > 1 ? static_cast<float>(double(m) / double(m - 1)) : 1.0f, C,
                       nullptr);
  Tensor y = Tensor::empty(x.shape(), DType::F32, dev);
  k.batch_norm_apply(x.device_f32(), scale.device_f32(), shift.device_f32(), y.device_f32(), N, C, S, nullptr);
  if (needs_grad({x, weight, bias})) {
    const bool gx = x.requires_grad(), gw = weight.defined() && weight.requires_grad();
    const bool gb = bias.defined() && bias.requires_grad();
    record(y, "batch_norm", {x, weight, bias}, [x, weight, mu, invstd, training, eps, gx, gw, gb](const Tensor& g) {
      if (grad_mode_enabled()) return composed_backward(g, x, weight, gx, gw, gb, training, mu, invstd, eps);
      const Tensor gc = g.contiguous();
      const int64_t N = x.size(0), C = x.size(1), S = C == 0 || N == 0 ? 0 : x.numel() / (N * C);
      const Device d = x.device();
      Tensor dx = gx ? Tensor::empty(x.shape(), DType::F32, d) : Tensor();
      Tensor dw = gw ? Tensor::empty({C}, DType::F32, d) : Tensor();
      Tensor db = gb ? Tensor::empty({C}, DType::F32, d) : Tensor();
      Tensor sums = Tensor::empty({2 * C}, DType::F32, d);
      cuda::kernels(d).batch_norm_backward(gc.device_f32(), x.device_f32(), mu.device_f32(), invstd.device_f32(),
                                           ptr_or_null(weight), training, ptr_or_null(dx), ptr_or_null(dw),
                                           ptr_or_null(db), sums.device_f32(), N, C, S, nullptr);
      return std::vector<Tensor>{dx, dw, db};
    });
  }
  return y;
}
}  // namespace

namespace {
Tensor batch_norm_impl(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                       const Tensor& running_var, bool training, double momentum, double eps, bool fuse_relu) {
  SIGNET_DISPATCH_CPU_OR_CUDA(fuse_relu ? "batch_norm_relu" : "batch_norm", {x, weight, bias, running_mean, running_var});
  SIGNET_CHECK(x.dtype() == DType::F32 && x.dim() >= 2,
               "batch_norm: input must be a float32 [N, C] or [N, C, H, W] tensor, got {}", x.str());
  SIGNET_CHECK(eps > 0, "batch_norm: eps {} must be positive", eps);
  const int64_t N = x.size(0), C = x.size(1), S = C == 0 || N == 0 ? 0 : x.numel() / (N * C);
  check_channel_vector(weight, C, "weight", x.shape());
  check_channel_vector(bias, C, "bias", x.shape());
  check_channel_vector(running_mean, C, "running_mean", x.shape());
  check_channel_vector(running_var, C, "running_var", x.shape());
  SIGNET_CHECK(running_mean.defined() == running_var.defined(),
               "batch_norm: give both running_mean and running_var, or neither");
  const int64_t m = N * S;
  if (training) {
    SIGNET_CHECK(m > 1, "batch_norm: expected more than 1 value per channel when training, got input {}",
                 shape_str(x.shape()));
  } else {
    SIGNET_CHECK(running_mean.defined(),
                 "batch_norm: evaluation mode needs running_mean and running_var (input {})", shape_str(x.shape()));
  }
  if (x.device().is_cuda()) {
    const Tensor y = batch_norm_cuda(x, weight, bias, running_mean, running_var, training, momentum, eps);
    return fuse_relu ? relu(y) : y;
  }

  const Tensor xc = x.contiguous();
  Tensor mu = Tensor::empty({C}), var = Tensor::empty({C});
  if (training) {
    cpu_kernel(cpu::batch_norm_stats_fast, cpu::batch_norm_stats_ref)(xc.f32(), N, C, S, mu.f32(), var.f32());
  } else {  // snapshot: the buffers may be changed in place before backward runs
    mu.copy_(running_mean);
    var.copy_(running_var);
  }
  Tensor invstd = Tensor::empty({C}), scale = Tensor::empty({C}), shift = Tensor::empty({C});
  {
    const Tensor wc = weight.defined() ? weight.contiguous() : Tensor();
    const Tensor bc = bias.defined() ? bias.contiguous() : Tensor();
    cpu::batch_norm_channel(mu.f32(), var.f32(), wc.defined() ? wc.f32() : nullptr, bc.defined() ? bc.f32() : nullptr,
                            eps, C, invstd.f32(), scale.f32(), shift.f32());
  }
  Tensor y = Tensor::empty(x.shape());
  cpu_kernel(cpu::batch_norm_apply_fast, cpu::batch_norm_apply_ref)(xc.f32(), N, C, S, scale.f32(), shift.f32(), y.f32(),
                                                                    fuse_relu);

  if (training && running_mean.defined()) {
    SIGNET_CHECK(running_mean.is_contiguous() && running_var.is_contiguous(),
                 "batch_norm: running statistics must be contiguous tensors");
    cpu::batch_norm_running_update(running_mean.f32(), running_var.f32(), mu.f32(), var.f32(), momentum,
                                   static_cast<double>(m) / static_cast<double>(m - 1), C);
  }

  if (needs_grad({x, weight, bias})) {
    const bool gx = x.requires_grad(), gw = weight.defined() && weight.requires_grad();
    const bool gb = bias.defined() && bias.requires_grad();
    // Fused: the ReLU's mask comes from the forward's scale and shift, kept for the backward.
    const Tensor rscale = fuse_relu ? scale : Tensor(), rshift = fuse_relu ? shift : Tensor();
    record(y, fuse_relu ? "batch_norm_relu" : "batch_norm", {x, weight, bias},
           [x, weight, mu, invstd, training, eps, gx, gw, gb, rscale, rshift](const Tensor& g) {
             const int64_t N = x.size(0), C = x.size(1), S = C == 0 || N == 0 ? 0 : x.numel() / (N * C);
             if (grad_mode_enabled()) {
               if (!rscale.defined()) return composed_backward(g, x, weight, gx, gw, gb, training, mu, invstd, eps);
               // relu's derivative is piecewise constant: the mask is a constant of the graph
               Tensor pre = Tensor::empty(x.shape());
               cpu::batch_norm_apply_ref(x.contiguous().f32(), N, C, S, rscale.f32(), rshift.f32(), pre.f32());
               return composed_backward(relu_grad(g, pre), x, weight, gx, gw, gb, training, mu, invstd, eps);
             }
             const Tensor gc = g.contiguous(), xc = x.contiguous();
             const Tensor wc = weight.defined() ? weight.contiguous() : Tensor();
             Tensor dx = gx ? Tensor::empty(x.shape()) : Tensor();
             Tensor dw = gw ? Tensor::empty({C}) : Tensor();
             Tensor db = gb ? Tensor::empty({C}) : Tensor();
             cpu_kernel(cpu::batch_norm_backward_fast, cpu::batch_norm_backward_ref)(gc.f32(), xc.f32(), N, C, S, mu.f32(), invstd.f32(),
                                           wc.defined() ? wc.f32() : nullptr, training, gx ? dx.f32() : nullptr,
                                           gw ? dw.f32() : nullptr, gb ? db.f32() : nullptr,
                                           rscale.defined() ? rscale.f32() : nullptr,
                                           rshift.defined() ? rshift.f32() : nullptr);
             return std::vector<Tensor>{dx, dw, db};
           });
  }
  return y;
}
}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                  const Tensor& running_var, bool training, double momentum, double eps) {
  return batch_norm_impl(x, weight, bias, running_mean, running_var, training, momentum, eps, false);
}

Tensor batch_norm_relu(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                       const Tensor& running_var, bool training, double momentum, double eps) {
  return batch_norm_impl(x, weight, bias, running_mean, running_var, training, momentum, eps, true);
}

}  // namespace signet
