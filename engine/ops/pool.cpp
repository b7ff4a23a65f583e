// Autograd and dispatch for the pooling ops (see pool.h).
#include "engine/ops/pool.h"

#include "engine/autograd.h"
#include "engine/cuda/runtime.h"
#include "engine/ops/binary.h"
#include "engine/ops/dispatch.h"
#include "engine/ops/index.h"
#include "engine/ops/reduce.h"
#include "engine/ops/shape.h"

namespace signet {

Pool2dGeom pool2d_geom(const char* op, const Shape& x, int64_t kernel, int64_t stride, int64_t padding) {
  SIGNET_CHECK(x.size() == 4, "{}: input must be [N, C, H, W], got {}", op, shape_str(x));
  SIGNET_CHECK(kernel > 0, "{}: kernel size {} must be positive", op, kernel);
  if (stride == 0) stride = kernel;
  SIGNET_CHECK(stride > 0, "{}: stride {} must be positive (or 0 for the kernel size)", op, stride);
  SIGNET_CHECK(padding >= 0 && padding <= kernel / 2,
               "{}: padding {} must be between 0 and half the kernel size ({})", op, padding, kernel / 2);
  Pool2dGeom g{x[0], x[1], x[2], x[3], kernel, stride, padding, 0, 0};
  SIGNET_CHECK(g.H + 2 * padding >= kernel && g.W + 2 * padding >= kernel,
               "{}: kernel {} is larger than the padded input {}x{} (input {}, padding {})", op, kernel,
               g.H + 2 * padding, g.W + 2 * padding, shape_str(x), padding);
  g.Ho = (g.H + 2 * padding - kernel) / stride + 1;
  g.Wo = (g.W + 2 * padding - kernel) / stride + 1;
  return g;
}

namespace {
cuda::PoolShape device_shape(const Pool2dGeom& g) { return {g.N, g.C, g.H, g.W, g.k, g.s, g.p, g.Ho, g.Wo}; }

void check_input(const Tensor& x, const char* op) {
  SIGNET_CHECK(x.dtype() == DType::F32, "{}: needs a float32 tensor, got {}", op, x.str());
}

// Geometry of a max pool from its indices [N, C, Ho, Wo] and the input shape (the window size
// does not matter to the scatter / gather).
Pool2dGeom index_geom(const char* op, const Tensor& idx, const Shape& input_shape) {
  SIGNET_CHECK(idx.dtype() == DType::I64 && idx.dim() == 4, "{}: indices must be 4-d int64, got {}", op, idx.str());
  SIGNET_CHECK(input_shape.size() == 4 && input_shape[0] == idx.size(0) && input_shape[1] == idx.size(1),
               "{}: indices {} do not belong to an input of shape {}", op, shape_str(idx.shape()),
               shape_str(input_shape));
  return {input_shape[0], input_shape[1], input_shape[2], input_shape[3], 1, 1, 0, idx.size(2), idx.size(3)};
}

// y = G gathered at the pooling positions; the adjoint of max_pool2d_backward.
Tensor max_pool2d_gather(const Tensor& G, const Tensor& idx) {
  const Pool2dGeom g = index_geom("max_pool2d_gather", idx, G.shape());
  backend_for("max_pool2d_gather", {G, idx}, true);
  Tensor y = Tensor::empty(idx.shape(), DType::F32, G.device());
  if (G.device().is_cuda()) {
    const Tensor Gc = G.contiguous(), ic = idx.contiguous();
    cuda::kernels(G.device()).max_pool2d_gather(Gc.device_f32(), ic.device_i64(), y.device_f32(), device_shape(g),
                                                nullptr);
    if (needs_grad({G})) {
      record(y, "max_pool2d_gather", {G}, [idx, shape = G.shape()](const Tensor& gy) {
        return std::vector<Tensor>{max_pool2d_backward(gy, idx, shape)};
      });
    }
    return y;
  }
  const Tensor gc = G.contiguous(), ic = idx.contiguous();
  cpu::max_pool2d_gather_fast(g, gc.f32(), ic.i64(), y.f32());
  if (needs_grad({G})) {
    record(y, "max_pool2d_gather", {G}, [ic, shape = G.shape()](const Tensor& gy) {
      return std::vector<Tensor>{max_pool2d_backward(gy, ic, shape)};
    });
  }
  return y;
}
}  // namespace

std::pair<Tensor, Tensor> max_pool2d_with_indices(const Tensor& x, int64_t kernel, int64_t stride,
                                                  int64_t padding) {
  SIGNET_DISPATCH_CPU_OR_CUDA("max_pool2d", {x});
  check_input(x, "max_pool2d");
  const Pool2dGeom g = pool2d_geom("max_pool2d", x.shape(), kernel, stride, padding);
  const Device dev = x.device();
  Tensor y = Tensor::empty({g.N, g.C, g.Ho, g.Wo}, DType::F32, dev);
  Tensor idx = Tensor::empty({g.N, g.C, g.Ho, g.Wo}, DType::I64, dev);
  if (dev.is_cuda()) {
    const Tensor xc = x.contiguous();
    cuda::kernels(dev).max_pool2d(xc.device_f32(), y.device_f32(), idx.device_i64(), device_shape(g), nullptr);
  } else {
    const Tensor xc = x.contiguous();
    cpu_kernel(cpu::max_pool2d_fast, cpu::max_pool2d_ref)(g, xc.f32(), y.f32(), idx.i64());
  }
  if (needs_grad({x})) {
    record(y, "max_pool2d", {x}, [idx, shape = x.shape()](const Tensor& gy) {
      return std::vector<Tensor>{max_pool2d_backward(gy, idx, shape)};
    });
  }
  return {y, idx};
}

Tensor max_pool2d(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding) {
  return max_pool2d_with_indices(x, kernel, stride, padding).first;
}

Tensor max_pool2d_backward(const Tensor& gy, const Tensor& indices, const Shape& input_shape) {
  const char* op = "max_pool2d_backward";
  SIGNET_DISPATCH_CPU_OR_CUDA(op, {gy, indices});
  check_input(gy, op);
  const Pool2dGeom g = index_geom(op, indices, input_shape);
  SIGNET_CHECK(gy.shape() == indices.shape(), "{}: gradient {} and indices {} differ in shape", op,
               shape_str(gy.shape()), shape_str(indices.shape()));
  if (gy.device().is_cuda()) {
    // The device trusts its indices (max_pool2d's own; the kernel skips any outside the plane).
    const Tensor gc = gy.contiguous(), ic = indices.contiguous();
    Tensor dx = Tensor::empty(input_shape, DType::F32, gy.device());
    cuda::kernels(gy.device()).max_pool2d_backward(gc.device_f32(), ic.device_i64(), dx.device_f32(),
                                                   device_shape(g), nullptr);
    if (needs_grad({gy}))
      record(dx, op, {gy}, [indices](const Tensor& G) { return std::vector<Tensor>{max_pool2d_gather(G, indices)}; });
    return dx;
  }
  const Tensor gc = gy.contiguous(), ic = indices.contiguous();
  const int64_t* p = ic.i64();
  const int64_t bad = cpu::first_outside(p, ic.numel(), g.H * g.W);
  SIGNET_CHECK(bad < 0, "{}: index {} is outside the {}x{} input plane", op, bad < 0 ? 0 : p[bad], g.H, g.W);
  Tensor dx = Tensor::empty(input_shape);
  cpu_kernel(cpu::max_pool2d_backward_fast, cpu::max_pool2d_backward_ref)(g, gc.f32(), p, dx.f32());
  if (needs_grad({gy})) {
    record(dx, op, {gy}, [ic](const Tensor& G) { return std::vector<Tensor>{max_pool2d_gather(G, ic)}; });
  }
  return dx;
}

Tensor avg_pool2d(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding) {
  SIGNET_DISPATCH_CPU_OR_CUDA("avg_pool2d", {x});
  check_input(x, "avg_pool2d");
  const Pool2dGeom g = pool2d_geom("avg_pool2d", x.shape(), kernel, stride, padding);
  const Tensor xc = x.contiguous();
  Tensor y = Tensor::empty({g.N, g.C, g.Ho, g.Wo}, DType::F32, x.device());
  if (x.device().is_cuda())
    cuda::kernels(x.device()).avg_pool2d(xc.device_f32(), y.device_f32(), device_shape(g), nullptr);
  else
    cpu_kernel(cpu::avg_pool2d_fast, cpu::avg_pool2d_ref)(g, xc.f32(), y.f32());
  if (needs_grad({x})) {
    record(y, "avg_pool2d", {x}, [shape = x.shape(), kernel, stride, padding](const Tensor& gy) {
      return std::vector<Tensor>{avg_pool2d_backward(gy, shape, kernel, stride, padding)};
    });
  }
  return y;
}

Tensor avg_pool2d_backward(const Tensor& gy, const Shape& input_shape, int64_t kernel, int64_t stride,
                           int64_t padding) {
  const char* op = "avg_pool2d_backward";
  SIGNET_DISPATCH_CPU_OR_CUDA(op, {gy});
  check_input(gy, op);
  const Pool2dGeom g = pool2d_geom(op, input_shape, kernel, stride, padding);
  const Shape want{g.N, g.C, g.Ho, g.Wo};
  SIGNET_CHECK(gy.shape() == want, "{}: gradient {} does not match the pooled shape {} of input {}", op,
               shape_str(gy.shape()), shape_str(want), shape_str(input_shape));
  const Tensor gc = gy.contiguous();
  Tensor dx = Tensor::empty(input_shape, DType::F32, gy.device());
  if (gy.device().is_cuda())
    cuda::kernels(gy.device()).avg_pool2d_backward(gc.device_f32(), dx.device_f32(), device_shape(g), nullptr);
  else
    cpu_kernel(cpu::avg_pool2d_backward_fast, cpu::avg_pool2d_backward_ref)(g, gc.f32(), dx.f32());
  if (needs_grad({gy})) {
    record(dx, op, {gy}, [kernel, stride, padding](const Tensor& G) {
      return std::vector<Tensor>{avg_pool2d(G, kernel, stride, padding)};
    });
  }
  return dx;
}

Tensor global_avg_pool(const Tensor& x) {
  SIGNET_DISPATCH_CPU_OR_CUDA("global_avg_pool", {x});
  check_input(x, "global_avg_pool");
  SIGNET_CHECK(x.dim() == 4, "global_avg_pool: input must be [N, C, H, W], got {}", shape_str(x.shape()));
  const int64_t N = x.size(0), C = x.size(1), hw = x.size(2) * x.size(3);
  SIGNET_CHECK(hw > 0, "global_avg_pool: empty spatial size in {}", shape_str(x.shape()));
  Tensor y = Tensor::empty({N, C}, DType::F32, x.device());
  if (x.device().is_cuda()) {
    // Each plane's sum (one block per plane), then the scale.
    const Tensor xc = x.contiguous();
    const cuda::KernelTable& k = cuda::kernels(x.device());
    Tensor sums = Tensor::empty({N, C}, DType::F32, x.device());
    k.sum_middle(xc.device_f32(), sums.device_f32(), N * C, hw, 1, nullptr);
    k.affine(sums.device_f32(), y.device_f32(), 1.0f / static_cast<float>(hw), 0.0f, N * C, nullptr);
  } else {
    const Tensor xc = x.contiguous();
    cpu_kernel(cpu::global_avg_pool_fast, cpu::global_avg_pool_ref)(xc.f32(), y.f32(), N * C, hw);
  }
  if (needs_grad({x})) {
    record(y, "global_avg_pool", {x}, [shape = x.shape(), hw](const Tensor& gy) {
      const Tensor g4 = reshape(mul_scalar(gy, 1.0f / static_cast<float>(hw)), {shape[0], shape[1], 1, 1});
      return std::vector<Tensor>{expand(g4, shape)};
    });
  }
  return y;
}

}  // namespace signet
