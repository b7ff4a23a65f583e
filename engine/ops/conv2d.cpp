// Autograd and dispatch for conv2d and its two backward ops (see conv2d.h for the algebra that
// makes every backward expressible with these three ops).
#include "engine/ops/conv2d.h"

#include "engine/autograd.h"
#include "engine/cuda/runtime.h"
#include "engine/ops/dispatch.h"
#include "engine/ops/reduce.h"

namespace signet {

namespace {
void check_f32(const Tensor& t, const char* op, const char* what, const char* layout) {
  SIGNET_CHECK(t.dtype() == DType::F32 && t.dim() == 4, "{}: {} must be a 4-d float32 tensor {}, got {}", op, what,
               layout, t.str());
}
// On a device the convolutions are the device library's (cuDNN; kernel_table.h).
cuda::ConvGeometry device_geom(const Conv2dGeom& g) {
  return {g.N, g.C, g.H, g.W, g.O, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.Ho, g.Wo};
}
const float* in_data(const char* op, const Tensor& t) {
  if (t.device().is_cpu()) return t.f32();
  require_contiguous_on_device(op, t);
  return t.device_f32();
}
float* out_data(const Tensor& t) { return t.device().is_cpu() ? t.f32() : t.device_f32(); }
}  // namespace

Conv2dGeom conv2d_geom(const char* op, const Shape& x, const Shape& w, int64_t sh, int64_t sw,
                       int64_t ph, int64_t pw) {
  SIGNET_CHECK(sh > 0 && sw > 0, "{}: stride ({}, {}) must be positive", op, sh, sw);
  SIGNET_CHECK(ph >= 0 && pw >= 0, "{}: padding ({}, {}) must not be negative", op, ph, pw);
  SIGNET_CHECK(x.size() == 4, "{}: input must be [N, C, H, W], got {}", op, shape_str(x));
  SIGNET_CHECK(w.size() == 4, "{}: weight must be [out_channels, in_channels, kh, kw], got {}", op, shape_str(w));
  SIGNET_CHECK(x[1] == w[1], "{}: input {} has {} channels but the weight {} expects {}", op, shape_str(x), x[1],
               shape_str(w), w[1]);
  SIGNET_CHECK(w[1] > 0 && w[2] > 0 && w[3] > 0, "{}: empty kernel or no input channels in weight {}", op,
               shape_str(w));
  Conv2dGeom g{x[0], x[1], x[2], x[3], w[0], w[2], w[3], sh, sw, ph, pw, 0, 0};
  SIGNET_CHECK(g.H + 2 * ph >= g.kh && g.W + 2 * pw >= g.kw,
               "{}: kernel {}x{} is larger than the padded input {}x{} (input {}, padding ({}, {}))", op, g.kh, g.kw,
               g.H + 2 * ph, g.W + 2 * pw, shape_str(x), ph, pw);
  g.Ho = (g.H + 2 * ph - g.kh) / sh + 1;
  g.Wo = (g.W + 2 * pw - g.kw) / sw + 1;
  return g;
}

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, int64_t sh, int64_t sw, int64_t ph,
              int64_t pw) {
  SIGNET_DISPATCH_CPU_OR_CUDA("conv2d", {x, w, bias});
  check_f32(x, "conv2d", "input", "[N, C, H, W]");
  check_f32(w, "conv2d", "weight", "[O, C, kh, kw]");
  const Conv2dGeom g = conv2d_geom("conv2d", x.shape(), w.shape(), sh, sw, ph, pw);
  if (bias.defined())
    SIGNET_CHECK(bias.dtype() == DType::F32 && bias.dim() == 1 && bias.size(0) == g.O,
                 "conv2d: bias {} should be [{}] (one per output channel)", bias.str(), g.O);
  const Device dev = x.device();
  const Tensor xc = x.contiguous(), wc = w.contiguous();
  const Tensor bc = bias.defined() ? bias.contiguous() : bias;
  Tensor y = Tensor::empty({g.N, g.O, g.Ho, g.Wo}, DType::F32, dev);
  const float* pb = bc.defined() ? in_data("conv2d", bc) : nullptr;
  if (dev.is_cpu())
    cpu_kernel(cpu::conv2d_fast, cpu::conv2d_ref)(g, xc.f32(), wc.f32(), pb, y.f32());
  else
    cuda::kernels(dev).conv2d_forward(device_geom(g), in_data("conv2d", xc), in_data("conv2d", wc), pb, out_data(y),
                                      nullptr);
  if (needs_grad({x, w, bias})) {
    const bool gx = x.requires_grad(), gw = w.requires_grad(), gb = bias.defined() && bias.requires_grad();
    record(y, "conv2d", {x, w, bias}, [x, w, gx, gw, gb, sh, sw, ph, pw](const Tensor& gy) {
      return std::vector<Tensor>{
          gx ? conv2d_backward_input(gy, w, x.shape(), sh, sw, ph, pw) : Tensor(),
          gw ? conv2d_backward_weight(gy, x, w.shape(), sh, sw, ph, pw) : Tensor(),
          gb ? sum(gy, {0, 2, 3}) : Tensor()};
    });
  }
  return y;
}

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, int64_t stride, int64_t padding) {
  return conv2d(x, w, bias, stride, stride, padding, padding);
}

Tensor conv2d_backward_input(const Tensor& gy, const Tensor& w, const Shape& input_shape, int64_t sh,
                             int64_t sw, int64_t ph, int64_t pw) {
  const char* op = "conv2d_backward_input";
  SIGNET_DISPATCH_CPU_OR_CUDA(op, {gy, w});
  check_f32(gy, op, "gradient", "[N, O, Ho, Wo]");
  check_f32(w, op, "weight", "[O, C, kh, kw]");
  const Conv2dGeom g = conv2d_geom(op, input_shape, w.shape(), sh, sw, ph, pw);
  const Shape want{g.N, g.O, g.Ho, g.Wo};
  SIGNET_CHECK(gy.shape() == want, "{}: gradient {} does not match the convolution output {} of input {}", op,
               shape_str(gy.shape()), shape_str(want), shape_str(input_shape));
  const Device dev = gy.device();
  const Tensor gc = gy.contiguous(), wc = w.contiguous();
  Tensor dx = Tensor::empty(input_shape, DType::F32, dev);
  if (dev.is_cpu())
    cpu_kernel(cpu::conv2d_backward_input_fast, cpu::conv2d_backward_input_ref)(g, gc.f32(), wc.f32(), dx.f32());
  else
    cuda::kernels(dev).conv2d_backward_input(device_geom(g), in_data(op, gc), in_data(op, wc), out_data(dx), nullptr);
  if (needs_grad({gy, w})) {
    const bool gg = gy.requires_grad(), gw = w.requires_grad();
    record(dx, op, {gy, w}, [gy, w, gg, gw, sh, sw, ph, pw](const Tensor& G) {
      return std::vector<Tensor>{gg ? conv2d(G, w, Tensor(), sh, sw, ph, pw) : Tensor(),
                                 gw ? conv2d_backward_weight(gy, G, w.shape(), sh, sw, ph, pw) : Tensor()};
    });
  }
  return dx;
}

Tensor conv2d_backward_weight(const Tensor& gy, const Tensor& x, const Shape& weight_shape, int64_t sh,
                              int64_t sw, int64_t ph, int64_t pw) {
  const char* op = "conv2d_backward_weight";
  SIGNET_DISPATCH_CPU_OR_CUDA(op, {gy, x});
  check_f32(gy, op, "gradient", "[N, O, Ho, Wo]");
  check_f32(x, op, "input", "[N, C, H, W]");
  const Conv2dGeom g = conv2d_geom(op, x.shape(), weight_shape, sh, sw, ph, pw);
  const Shape want{g.N, g.O, g.Ho, g.Wo};
  SIGNET_CHECK(gy.shape() == want, "{}: gradient {} does not match the convolution output {} of input {}", op,
               shape_str(gy.shape()), shape_str(want), shape_str(x.shape()));
  const Device dev = gy.device();
  const Tensor gc = gy.contiguous(), xc = x.contiguous();
  Tensor dw = Tensor::empty(weight_shape, DType::F32, dev);
  if (dev.is_cpu())
    cpu_kernel(cpu::conv2d_backward_weight_fast, cpu::conv2d_backward_weight_ref)(g, gc.f32(), xc.f32(), dw.f32());
  else
    cuda::kernels(dev).conv2d_backward_weight(device_geom(g), in_data(op, gc), in_data(op, xc), out_data(dw), nullptr);
  if (needs_grad({gy, x})) {
    const bool gg = gy.requires_grad(), gx = x.requires_grad();
    record(dw, op, {gy, x}, [gy, x, gg, gx, sh, sw, ph, pw](const Tensor& G) {
      return std::vector<Tensor>{gg ? conv2d(x, G, Tensor(), sh, sw, ph, pw) : Tensor(),
                                 gx ? conv2d_backward_input(gy, G, x.shape(), sh, sw, ph, pw) : Tensor()};
    });
  }
  return dw;
}

}  // namespace signet
