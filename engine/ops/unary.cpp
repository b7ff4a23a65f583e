// Autograd and dispatch for the unary ops (CPU kernels in unary_cpu.cpp, CUDA ones in
// engine/cuda/kernels/elementwise.cuh). Backward functions that need the output y
// recompute it from x when a graph of the gradient is being built (create_graph), so that
// second derivatives see y as a function of x; otherwise they reuse the saved y.
#include "engine/ops/unary.h"

#include "engine/autograd.h"
#include "engine/cuda/runtime.h"
#include "engine/ops/binary.h"
#include "engine/ops/dispatch.h"

namespace signet {

namespace {
Tensor unary_forward(UnaryOp op, const char* name, const Tensor& x) {
  SIGNET_DISPATCH_CPU_OR_CUDA(name, {x});
  SIGNET_CHECK(x.dtype() == DType::F32, "{}: needs a float32 tensor, got {}", name, dtype_name(x.dtype()));
  if (x.device().is_cuda()) {
    const Tensor xc = x.contiguous();  // a strided input is copied on the device first
    Tensor y = Tensor::empty(x.shape(), DType::F32, x.device());
    cuda::kernels(x.device()).unary(static_cast<cuda::Unary>(op), xc.device_f32(), y.device_f32(), x.numel(), nullptr);
    return y;
  }
  const Tensor xc = x.contiguous();
  Tensor y = Tensor::empty(x.shape());
  cpu_kernel(cpu::unary_fast, cpu::unary_ref)(op, xc.f32(), y.f32(), x.numel());
  return y;
}
}  // namespace

Tensor relu(const Tensor& x) {
  Tensor y = unary_forward(UnaryOp::Relu, "relu", x);
  if (needs_grad({x})) {
    record(y, "relu", {x}, [x](const Tensor& g) { return std::vector<Tensor>{relu_grad(g, x)}; });
  }
  return y;
}

Tensor relu_grad(const Tensor& g, const Tensor& x) {
  SIGNET_DISPATCH_CPU_OR_CUDA("relu_grad", {g, x});
  SIGNET_CHECK(g.shape() == x.shape(), "relu_grad: gradient {} for input {}", shape_str(g.shape()), shape_str(x.shape()));
  Tensor out = Tensor::empty(x.shape(), DType::F32, x.device());
  if (x.device().is_cuda()) {
    const Tensor gc = g.contiguous(), xc = x.contiguous();  // strided inputs copied on the device first
    cuda::kernels(x.device()).relu_grad(gc.device_f32(), xc.device_f32(), out.device_f32(), x.numel(), nullptr);
  } else {
    const Tensor gc = g.contiguous(), xc = x.contiguous();
    cpu_kernel(cpu::relu_grad_fast, cpu::relu_grad_ref)(gc.f32(), xc.f32(), out.f32(), x.numel());
  }
  if (needs_grad({g})) {
    record(out, "relu_grad", {g}, [x](const Tensor& gg) { return std::vector<Tensor>{relu_grad(gg, x)}; });
  }
  return out;
}

Tensor sigmoid(const Tensor& x) {
  Tensor y = unary_forward(UnaryOp::Sigmoid, "sigmoid", x);
  if (needs_grad({x})) {
    record(y, "sigmoid", {x}, [x, y0 = y.detach()](const Tensor& g) {
      const Tensor y = grad_mode_enabled() ? sigmoid(x) : y0;
      return std::vector<Tensor>{g * y * rsub_scalar(1.0f, y)};
    });
  }
  return y;
}

Tensor tanh(const Tensor& x) {
  Tensor y = unary_forward(UnaryOp::Tanh, "tanh", x);
  if (needs_grad({x})) {
    record(y, "tanh", {x}, [x, y0 = y.detach()](const Tensor& g) {
      const Tensor y = grad_mode_enabled() ? tanh(x) : y0;
      return std::vector<Tensor>{g * rsub_scalar(1.0f, y * y)};
    });
  }
  return y;
}

Tensor exp(const Tensor& x) {
  Tensor y = unary_forward(UnaryOp::Exp, "exp", x);
  if (needs_grad({x})) {
    record(y, "exp", {x}, [x, y0 = y.detach()](const Tensor& g) {
      const Tensor y = grad_mode_enabled() ? exp(x) : y0;
      return std::vector<Tensor>{g * y};
    });
  }
  return y;
}

Tensor log(const Tensor& x) {
  Tensor y = unary_forward(UnaryOp::Log, "log", x);
  if (needs_grad({x})) {
    record(y, "log", {x}, [x](const Tensor& g) { return std::vector<Tensor>{g / x}; });
  }
  return y;
}

}  // namespace signet
