// Autograd and dispatch for sum / mean / sum_to / expand.
#include <algorithm>

#include "engine/autograd.h"
#include "engine/cuda/runtime.h"
#include "engine/ops/binary.h"
#include "engine/ops/dispatch.h"
#include "engine/ops/reduce.h"
#include "engine/ops/shape.h"

namespace signet {

namespace {
std::vector<int64_t> normalize_dims(std::vector<int64_t> dims, int64_t nd, const char* op) {
  if (dims.empty()) {
    for (int64_t d = 0; d < nd; ++d) dims.push_back(d);
  }
  for (auto& d : dims) {
    if (d < 0) d += nd;
    SIGNET_CHECK(d >= 0 && d < nd, "{}: dimension out of range for a {}-d tensor", op, nd);
  }
  std::sort(dims.begin(), dims.end());
  dims.erase(std::unique(dims.begin(), dims.end()), dims.end());
  return dims;
}

// Sums one dimension of a contiguous tensor, keeping it as size 1.
Tensor sum_one_dim(const Tensor& x, int64_t d) {
  Shape s = x.shape();
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < d; ++i) outer *= s[i];
  for (size_t i = d + 1; i < s.size(); ++i) inner *= s[i];
  const int64_t n = s[d];
  s[d] = 1;
  Tensor out = Tensor::empty(s, DType::F32, x.device());
  if (x.device().is_cuda())
    cuda::kernels(x.device()).sum_middle(x.device_f32(), out.device_f32(), outer, n, inner, nullptr);
  else
    cpu_kernel(cpu::sum_middle_fast, cpu::sum_middle_ref)(x.f32(), out.f32(), outer, n, inner);
  return out;
}

// A 0-d tensor is its own sum: a copy on its device, as any other sum is a new tensor.
Tensor device_copy_0d(const Tensor& x) {
  Tensor out = Tensor::empty({}, DType::F32, x.device());
  cuda::kernels(x.device()).affine(x.device_f32(), out.device_f32(), 1.0f, 0.0f, 1, nullptr);
  return out;
}

// Raw (unrecorded) sum keeping every reduced dim as size 1.
Tensor sum_keep(const Tensor& x, const std::vector<int64_t>& dims) {
  Tensor cur = x.contiguous();
  // Merging adjacent reduced dims into one pass would be faster; per-dim passes keep it simple
  // and each pass is a vectorised streaming loop.
  if (dims.size() == static_cast<size_t>(x.dim()) && x.dim() > 0) {
    Tensor flat = cur.view_as_shape({cur.numel()});
    Tensor r = sum_one_dim(flat, 0);
    return r.view_as_shape(Shape(x.dim(), 1));
  }
  for (int64_t d : dims) cur = sum_one_dim(cur, d);
  return cur;
}
}  // namespace

Tensor sum(const Tensor& x, std::vector<int64_t> dims, bool keepdim) {
  SIGNET_DISPATCH_CPU_OR_CUDA("sum", {x});
  SIGNET_CHECK(x.dtype() == DType::F32, "sum: needs a float32 tensor");
  dims = normalize_dims(dims, x.dim(), "sum");
  Tensor kept = x.dim() > 0 ? sum_keep(x, dims) : x.device().is_cuda() ? device_copy_0d(x) : x.clone();
  Shape out_shape;
  for (int64_t i = 0; i < x.dim(); ++i)
    if (keepdim || !std::binary_search(dims.begin(), dims.end(), i)) out_shape.push_back(kept.shape()[i]);
  Tensor out = kept.view_as_shape(out_shape);
  if (needs_grad({x})) {
    // The gradient of a sum is the output gradient copied to every summed element: put the
    // reduced dims back as size 1, then broadcast.
    record(out, "sum", {x}, [xs = x.shape(), kept_shape = kept.shape()](const Tensor& g) {
      return std::vector<Tensor>{expand(reshape(g, kept_shape), xs)};
    });
  }
  return out;
}

Tensor mean(const Tensor& x, std::vector<int64_t> dims, bool keepdim) {
  dims = normalize_dims(dims, x.dim(), "mean");
  int64_t count = 1;
  for (int64_t d : dims) count *= x.shape()[d];
  SIGNET_CHECK(count > 0, "mean: reducing over an empty dimension of {}", shape_str(x.shape()));
  return mul_scalar(sum(x, dims, keepdim), 1.0f / static_cast<float>(count));
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  const int64_t lead = x.dim() - static_cast<int64_t>(shape.size());
  SIGNET_CHECK(lead >= 0, "sum_to: cannot reduce {} to {}", shape_str(x.shape()), shape_str(shape));
  std::vector<int64_t> dims;
  for (int64_t i = 0; i < x.dim(); ++i) {
    if (i < lead) {
      dims.push_back(i);
    } else if (shape[i - lead] == 1 && x.shape()[i] != 1) {
      dims.push_back(i);
    } else {
      SIGNET_CHECK(shape[i - lead] == x.shape()[i], "sum_to: cannot reduce {} to {}",
                   shape_str(x.shape()), shape_str(shape));
    }
  }
  return reshape(sum(x, dims, /*keepdim=*/true), shape);
}

Tensor expand(const Tensor& x, const Shape& shape) {
  SIGNET_DISPATCH_CPU_OR_CUDA("expand", {x});  // a view: nothing runs
  if (x.shape() == shape) return x;
  Tensor out = x.expand_view(shape);
  if (needs_grad({x})) {
    record(out, "expand", {x}, [xs = x.shape()](const Tensor& g) {
      return std::vector<Tensor>{sum_to(g, xs)};
    });
  }
  return out;
}

}  // namespace signet
