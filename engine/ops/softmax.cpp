#include "engine/ops/softmax.h"

#include "engine/autograd.h"
#include "engine/cuda/runtime.h"
#include "engine/ops/binary.h"
#include "engine/ops/dispatch.h"
#include "engine/ops/reduce.h"
#include "engine/ops/unary.h"

namespace signet {

namespace {
Tensor softmax_forward(const Tensor& x, int64_t& dim, bool log) {
  const char* name = log ? "log_softmax" : "softmax";
  SIGNET_DISPATCH_CPU_OR_CUDA(name, {x});
  if (dim < 0) dim += x.dim();
  SIGNET_CHECK(dim >= 0 && dim < x.dim(), "{}: dim out of range for shape {}", name, shape_str(x.shape()));
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < dim; ++i) outer *= x.shape()[i];
  for (int64_t i = dim + 1; i < x.dim(); ++i) inner *= x.shape()[i];
  Tensor y = Tensor::empty(x.shape(), DType::F32, x.device());
  if (x.device().is_cuda()) {
    const Tensor xc = x.contiguous();
    cuda::kernels(x.device()).softmax(xc.device_f32(), y.device_f32(), outer, x.shape()[dim], inner, log, nullptr);
    return y;
  }
  const Tensor xc = x.contiguous();
  cpu_kernel(cpu::softmax_fast, cpu::softmax_ref)(xc.f32(), y.f32(), outer, x.shape()[dim], inner, log);
  return y;
}
}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) {
  Tensor y = softmax_forward(x, dim, false);
  if (needs_grad({x})) {
    record(y, "softmax", {x}, [x, dim, y0 = y.detach()](const Tensor& g) {
      const Tensor y = grad_mode_enabled() ? softmax(x, dim) : y0;
      return std::vector<Tensor>{y * (g - sum(g * y, {dim}, true))};
    });
  }
  return y;
}

Tensor log_softmax(const Tensor& x, int64_t dim) {
  Tensor y = softmax_forward(x, dim, true);
  if (needs_grad({x})) {
    record(y, "log_softmax", {x}, [x, dim](const Tensor& g) {
      return std::vector<Tensor>{g - softmax(x, dim) * sum(g, {dim}, true)};
    });
  }
  return y;
}

}  // namespace signet
