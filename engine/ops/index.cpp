// Dispatch and autograd of the indexing ops; their loops are in engine/cpu/index_cpu.cpp.
#include "engine/ops/index.h"

#include "engine/autograd.h"
#include "engine/cuda/runtime.h"
#include "engine/ops/dispatch.h"

namespace signet {

namespace {
using Split = IndexView;
Split split_at(const Shape& s, int64_t dim) {
  Split r;
  for (int64_t i = 0; i < dim; ++i) r.outer *= s[i];
  r.n = s[dim];
  for (size_t i = dim + 1; i < s.size(); ++i) r.inner *= s[i];
  return r;
}
int64_t norm_dim(int64_t dim, const Tensor& x, const char* op) {
  if (dim < 0) dim += x.dim();
  SIGNET_CHECK(dim >= 0 && dim < x.dim(), "{}: dim out of range for shape {}", op, shape_str(x.shape()));
  return dim;
}
// Every index inside [0, n), else an Error naming the first one outside (on a device: found by
// a kernel, named after one synchronising read of one word).
void check_indices(const Tensor& ic, int64_t n, const char* op) {
  if (ic.device().is_cuda()) {
    Tensor flag = Tensor::zeros({1}, DType::I64, ic.device());
    cuda::kernels(ic.device()).index_check(ic.device_i64(), ic.numel(), n,
                                           reinterpret_cast<unsigned long long*>(flag.device_i64()), nullptr);
    if (const int64_t f = flag.to(Device::cpu()).i64()[0]; f != 0)
      throw Error(fmt::format("{}: index {} is out of range [0, {})", op,
                              ic.to(Device::cpu()).i64()[ic.numel() - f], n));
    return;
  }
  const int64_t* v = ic.i64();
  const int64_t k = cpu::first_outside(v, ic.numel(), n);
  SIGNET_CHECK(k < 0, "{}: index {} is out of range [0, {})", op, k < 0 ? 0 : v[k], n);
}
// The device path takes float32 data (what the ops index on a GPU).
void require_f32_on_device(const Tensor& t, const char* op) {
  SIGNET_CHECK(!t.device().is_cuda() || t.dtype() == DType::F32, "{}: on {} only float32 data is indexed, got {}",
               op, t.device().str(), t.str());
}
}  // namespace

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& idx) {
  SIGNET_DISPATCH_CPU_OR_CUDA("index_select", {x, idx});
  dim = norm_dim(dim, x, "index_select");
  SIGNET_CHECK(idx.dtype() == DType::I64 && idx.dim() == 1, "index_select: indices must be 1-d int64, got {}", idx.str());
  require_f32_on_device(x, "index_select");
  const Tensor xc = x.contiguous();
  const Tensor ic = idx.contiguous();
  Shape os = x.shape();
  os[dim] = idx.numel();
  Tensor out = Tensor::empty(os, x.dtype(), x.device());
  const Split s = split_at(x.shape(), dim);
  const int64_t K = idx.numel();
  const size_t es = dtype_size(x.dtype());
  check_indices(ic, s.n, "index_select");
  if (x.device().is_cuda())
    cuda::kernels(x.device()).index_select(xc.device_f32(), out.device_f32(), ic.device_i64(), s.outer, s.n, K,
                                           s.inner, nullptr);
  else
    cpu::index_select(static_cast<const char*>(xc.storage()->data()) + xc.offset() * es,
                      static_cast<char*>(out.storage()->data()), ic.i64(), s, K, es);
  if (needs_grad({x})) {
    record(out, "index_select", {x}, [xs = x.shape(), dim, ic](const Tensor& g) {
      return std::vector<Tensor>{index_add(Tensor::zeros(xs, DType::F32, g.device()), dim, ic, g)};
    });
  }
  return out;
}

Tensor index_add(const Tensor& base, int64_t dim, const Tensor& idx, const Tensor& src) {
  SIGNET_DISPATCH_CPU_OR_CUDA("index_add", {base, idx, src});
  dim = norm_dim(dim, base, "index_add");
  SIGNET_CHECK(idx.dtype() == DType::I64 && idx.dim() == 1, "index_add: indices must be 1-d int64");
  Shape expect = base.shape();
  expect[dim] = idx.numel();
  SIGNET_CHECK(src.shape() == expect, "index_add: source shape {} should be {}", shape_str(src.shape()), shape_str(expect));
  require_f32_on_device(base, "index_add");
  Tensor out = base.clone();
  const Tensor sc = src.contiguous(), ic = idx.contiguous();
  const Split s = split_at(base.shape(), dim);
  const int64_t K = idx.numel();
  check_indices(ic, s.n, "index_add");
  if (out.device().is_cuda())
    cuda::kernels(out.device()).index_add(out.device_f32(), sc.device_f32(), ic.device_i64(), s.outer, s.n, K, s.inner,
                                          nullptr);
  else
    cpu::index_add(out.f32(), sc.f32(), ic.i64(), s, K);
  if (needs_grad({base, src})) {
    record(out, "index_add", {base, src}, [dim, ic](const Tensor& g) {
      return std::vector<Tensor>{g, index_select(g, dim, ic)};
    });
  }
  return out;
}

Tensor gather(const Tensor& x, int64_t dim, const Tensor& idx) {
  SIGNET_DISPATCH_CPU_OR_CUDA("gather", {x, idx});
  dim = norm_dim(dim, x, "gather");
  SIGNET_CHECK(idx.dtype() == DType::I64 && idx.dim() == x.dim(), "gather: indices must be int64 with {} dims", x.dim());
  for (int64_t i = 0; i < x.dim(); ++i)
    SIGNET_CHECK(i == dim || idx.shape()[i] == x.shape()[i], "gather: index shape {} does not match {} outside dim {}",
                 shape_str(idx.shape()), shape_str(x.shape()), dim);
  require_f32_on_device(x, "gather");
  const Tensor xc = x.contiguous(), ic = idx.contiguous();
  Tensor out = Tensor::empty(idx.shape(), DType::F32, x.device());
  const Split s = split_at(x.shape(), dim);
  const int64_t K = idx.shape()[dim];
  check_indices(ic, s.n, "gather");
  if (x.device().is_cuda())
    cuda::kernels(x.device()).gather(xc.device_f32(), ic.device_i64(), out.device_f32(), s.outer, s.n, K, s.inner,
                                     nullptr);
  else
    cpu::gather(xc.f32(), ic.i64(), out.f32(), s, K);
  if (needs_grad({x})) {
    record(out, "gather", {x}, [xs = x.shape(), dim, ic](const Tensor& g) {
      return std::vector<Tensor>{scatter_add(Tensor::zeros(xs, DType::F32, g.device()), dim, ic, g)};
    });
  }
  return out;
}

Tensor scatter_add(const Tensor& base, int64_t dim, const Tensor& idx, const Tensor& src) {
  SIGNET_DISPATCH_CPU_OR_CUDA("scatter_add", {base, idx, src});
  dim = norm_dim(dim, base, "scatter_add");
  SIGNET_CHECK(src.shape() == idx.shape(), "scatter_add: source {} and index {} shapes differ",
               shape_str(src.shape()), shape_str(idx.shape()));
  SIGNET_CHECK(idx.dtype() == DType::I64 && idx.dim() == base.dim(), "scatter_add: indices must be int64 with {} dims", base.dim());
  for (int64_t i = 0; i < base.dim(); ++i)
    SIGNET_CHECK(i == dim || idx.shape()[i] == base.shape()[i], "scatter_add: index shape {} does not match {} outside dim {}",
                 shape_str(idx.shape()), shape_str(base.shape()), dim);
  require_f32_on_device(base, "scatter_add");
  Tensor out = base.clone();
  const Tensor sc = src.contiguous(), ic = idx.contiguous();
  const Split s = split_at(base.shape(), dim);
  const int64_t K = idx.shape()[dim];
  check_indices(ic, s.n, "scatter_add");
  if (out.device().is_cuda())
    cuda::kernels(out.device()).scatter_add(out.device_f32(), sc.device_f32(), ic.device_i64(), s.outer, s.n, K,
                                            s.inner, nullptr);
  else
    cpu::scatter_add(out.f32(), sc.f32(), ic.i64(), s, K);
  if (needs_grad({base, src})) {
    record(out, "scatter_add", {base, src}, [dim, ic](const Tensor& g) {
      return std::vector<Tensor>{g, gather(g, dim, ic)};
    });
  }
  return out;
}

Tensor argmax(const Tensor& x, int64_t dim) {
  SIGNET_DISPATCH_CPU_OR_CUDA("argmax", {x});
  dim = norm_dim(dim, x, "argmax");
  SIGNET_CHECK(x.shape()[dim] > 0, "argmax: empty dimension in {}", shape_str(x.shape()));
  const Tensor xc = x.contiguous();
  const Split s = split_at(x.shape(), dim);
  Shape os = x.shape();
  os.erase(os.begin() + dim);
  Tensor out = Tensor::empty(os, DType::I64, x.device());
  if (x.device().is_cuda())
    cuda::kernels(x.device()).argmax(xc.device_f32(), out.device_i64(), s.outer, s.n, s.inner, nullptr);
  else
    cpu::argmax(xc.f32(), out.i64(), s);
  return out;
}

}  // namespace signet
