// Autograd and dispatch for the broadcasting binary ops (CPU kernels in binary_cpu.cpp, CUDA ones in
// engine/cuda/kernels/elementwise.cuh).
#include "engine/ops/binary.h"

#include "engine/autograd.h"
#include "engine/cuda/runtime.h"
#include "engine/ops/dispatch.h"
#include "engine/ops/reduce.h"
#include "engine/ops/unary.h"

namespace signet {

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    SIGNET_CHECK(da == db || da == 1 || db == 1, "{}: shapes {} and {} do not broadcast", op,
                 shape_str(a), shape_str(b));
    out[i] = da == 1 ? db : da;
  }
  return out;
}

namespace {
// a's strides in the dimensions of `out` (right-aligned; 0 where a is broadcast).
void broadcast_strides(const Tensor& a, const Shape& out, int64_t* strides) {
  const size_t lead = out.size() - a.shape().size();
  for (size_t d = 0; d < out.size(); ++d)
    strides[d] = d < lead || a.shape()[d - lead] == 1 ? 0 : a.strides()[d - lead];
}

// Any strides (views, expanded gradients) through the broadcasting kernel; the contiguous
// same-shape case through the flat one.
void binary_cuda(BinaryOp op, const char* name, const Tensor& a, const Tensor& b, Tensor& out) {
  const cuda::KernelTable& k = cuda::kernels(out.device());
  const auto bop = static_cast<cuda::Binary>(op);
  if (a.shape() == b.shape() && a.is_contiguous() && b.is_contiguous()) {
    k.binary_same(bop, a.device_f32(), b.device_f32(), out.device_f32(), out.numel(), nullptr);
    return;
  }
  cuda::BroadcastShape s;
  SIGNET_CHECK(out.dim() <= cuda_kernels::kMaxDims, "{}: {} dimensions, more than the CUDA kernel's {}", name,
               out.dim(), cuda_kernels::kMaxDims);
  s.ndim = static_cast<int>(out.dim());
  for (int d = 0; d < s.ndim; ++d) s.sizes[d] = out.shape()[d];
  broadcast_strides(a, out.shape(), s.a_strides);
  broadcast_strides(b, out.shape(), s.b_strides);
  k.binary_broadcast(bop, a.device_f32(), b.device_f32(), out.device_f32(), s, nullptr);
}
}  // namespace

static Tensor binary_forward(BinaryOp op, const char* name, const Tensor& a, const Tensor& b) {
  SIGNET_DISPATCH_CPU_OR_CUDA(name, {a, b});
  SIGNET_CHECK(a.dtype() == DType::F32 && b.dtype() == DType::F32, "{}: needs float32 inputs, got {} and {}",
               name, dtype_name(a.dtype()), dtype_name(b.dtype()));
  Tensor out = Tensor::empty(broadcast_shapes(a.shape(), b.shape(), name), DType::F32, a.device());
  if (a.device().is_cuda())
    binary_cuda(op, name, a, b, out);
  else
    cpu_kernel(cpu::binary_fast, cpu::binary_ref)(op, a, b, out);
  return out;
}

// a + s or a * s: the scalar forms. On the CPU through the broadcasting kernel (s as a 0-d
// tensor), on a GPU through the affine kernel (no host scalar is moved there).
static Tensor scalar_forward(BinaryOp op, const char* name, const Tensor& a, float s) {
  if (!a.device().is_cuda()) return binary_forward(op, name, a, Tensor::scalar(s));
  const float scale = op == BinaryOp::Add ? 1.0f : s, shift = op == BinaryOp::Add ? s : 0.0f;
  SIGNET_DISPATCH_CPU_OR_CUDA(name, {a});
  SIGNET_CHECK(a.dtype() == DType::F32, "{}: needs a float32 tensor, got {}", name, dtype_name(a.dtype()));
  const Tensor ac = a.contiguous();  // a strided input is copied on the device first
  Tensor out = Tensor::empty(a.shape(), DType::F32, a.device());
  cuda::kernels(a.device()).affine(ac.device_f32(), out.device_f32(), scale, shift, a.numel(), nullptr);
  return out;
}

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::Add, "add", a, b);
  if (needs_grad({a, b})) {
    record(out, "add", {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g) {
      return std::vector<Tensor>{sum_to(g, sa), sum_to(g, sb)};
    });
  }
  return out;
}

Tensor add_relu(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != DType::F32 || b.dtype() != DType::F32 || !a.device().is_cpu() ||
      !b.device().is_cpu())
    return relu(add(a, b));
  SIGNET_DISPATCH_CPU_OR_CUDA("add_relu", {a, b});
  const Tensor ac = a.contiguous(), bc = b.contiguous();
  Tensor y = Tensor::empty(a.shape());
  cpu_kernel(cpu::add_relu_fast, cpu::add_relu_ref)(ac.f32(), bc.f32(), y.f32(), y.numel());
  if (needs_grad({a, b})) {
    // y > 0 exactly where a + b > 0; relu_grad is linear in g, so this also serves create_graph
    record(y, "add_relu", {a, b}, [y0 = y.detach()](const Tensor& g) {
      const Tensor gm = relu_grad(g, y0);
      return std::vector<Tensor>{gm, gm};
    });
  }
  return y;
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::Sub, "sub", a, b);
  if (needs_grad({a, b})) {
    record(out, "sub", {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g) {
      return std::vector<Tensor>{sum_to(g, sa), sum_to(neg(g), sb)};
    });
  }
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::Mul, "mul", a, b);
  if (needs_grad({a, b})) {
    const bool ga = a.requires_grad(), gb = b.requires_grad();
    record(out, "mul", {a, b}, [a, b, ga, gb](const Tensor& g) {
      return std::vector<Tensor>{ga ? sum_to(mul(g, b), a.shape()) : Tensor(),
                                 gb ? sum_to(mul(g, a), b.shape()) : Tensor()};
    });
  }
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::Div, "div", a, b);
  if (needs_grad({a, b})) {
    const bool ga = a.requires_grad(), gb = b.requires_grad();
    record(out, "div", {a, b}, [a, b, ga, gb](const Tensor& g) {
      // d(a/b)/da = 1/b ; d(a/b)/db = -a/b^2
      return std::vector<Tensor>{ga ? sum_to(div(g, b), a.shape()) : Tensor(),
                                 gb ? sum_to(neg(div(mul(g, a), mul(b, b))), b.shape()) : Tensor()};
    });
  }
  return out;
}

Tensor add_scalar(const Tensor& a, float s) {
  Tensor out = scalar_forward(BinaryOp::Add, "add_scalar", a, s);
  if (needs_grad({a})) {
    record(out, "add_scalar", {a}, [](const Tensor& g) { return std::vector<Tensor>{g}; });
  }
  return out;
}

Tensor mul_scalar(const Tensor& a, float s) {
  Tensor out = scalar_forward(BinaryOp::Mul, "mul_scalar", a, s);
  if (needs_grad({a})) {
    record(out, "mul_scalar", {a},
           [s](const Tensor& g) { return std::vector<Tensor>{mul_scalar(g, s)}; });
  }
  return out;
}

Tensor neg(const Tensor& a) { return mul_scalar(a, -1.0f); }
Tensor rsub_scalar(float s, const Tensor& a) { return add_scalar(neg(a), s); }

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator*(const Tensor& a, float s) { return mul_scalar(a, s); }
Tensor operator*(float s, const Tensor& a) { return mul_scalar(a, s); }
Tensor operator-(const Tensor& a) { return neg(a); }

}  // namespace signet
