// Index kernels are memory-bound gathers; a plain loop over [outer, K, inner] rows with a
// memcpy of each contiguous inner run is both the reference and fast enough.
#include "engine/ops/index.h"

#include <cstring>

#include "engine/autograd.h"
#include "engine/ops/dispatch.h"

namespace signet {

namespace {
struct Split { int64_t outer = 1, n = 1, inner = 1; };
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
void check_index(int64_t v, int64_t n, const char* op) {
  SIGNET_CHECK(v >= 0 && v < n, "{}: index {} is out of range [0, {})", op, v, n);
}
}  // namespace

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& idx) {
  SIGNET_DISPATCH("index_select", {x, idx});
  dim = norm_dim(dim, x, "index_select");
  SIGNET_CHECK(idx.dtype() == DType::I64 && idx.dim() == 1, "index_select: indices must be 1-d int64, got {}", idx.str());
  const Tensor xc = x.contiguous();
  const Tensor ic = idx.contiguous();
  Shape os = x.shape();
  os[dim] = idx.numel();
  Tensor out = Tensor::empty(os, x.dtype());
  const Split s = split_at(x.shape(), dim);
  const int64_t K = idx.numel();
  const size_t es = dtype_size(x.dtype());
  const char* src = static_cast<const char*>(xc.storage()->data()) + xc.offset() * es;
  char* dst = static_cast<char*>(out.storage()->data());
  for (int64_t k = 0; k < K; ++k) check_index(ic.i64()[k], s.n, "index_select");
#pragma omp parallel for collapse(2) if (out.numel() >= kParallelGrain)
  for (int64_t o = 0; o < s.outer; ++o)
    for (int64_t k = 0; k < K; ++k)
      std::memcpy(dst + ((o * K + k) * s.inner) * es,
                  src + ((o * s.n + ic.i64()[k]) * s.inner) * es, s.inner * es);
  if (needs_grad({x})) {
    record(out, "index_select", {x}, [xs = x.shape(), dim, ic](const Tensor& g) {
      return std::vector<Tensor>{index_add(Tensor::zeros(xs), dim, ic, g)};
    });
  }
  return out;
}

Tensor index_add(const Tensor& base, int64_t dim, const Tensor& idx, const Tensor& src) {
  SIGNET_DISPATCH("index_add", {base, idx, src});
  dim = norm_dim(dim, base, "index_add");
  SIGNET_CHECK(idx.dtype() == DType::I64 && idx.dim() == 1, "index_add: indices must be 1-d int64");
  Shape expect = base.shape();
  expect[dim] = idx.numel();
  SIGNET_CHECK(src.shape() == expect, "index_add: source shape {} should be {}", shape_str(src.shape()), shape_str(expect));
  Tensor out = base.clone();
  const Tensor sc = src.contiguous(), ic = idx.contiguous();
  const Split s = split_at(base.shape(), dim);
  const int64_t K = idx.numel();
  for (int64_t o = 0; o < s.outer; ++o)
    for (int64_t k = 0; k < K; ++k) {
      const int64_t row = ic.i64()[k];
      check_index(row, s.n, "index_add");
      float* d = out.f32() + (o * s.n + row) * s.inner;
      const float* v = sc.f32() + (o * K + k) * s.inner;
      for (int64_t i = 0; i < s.inner; ++i) d[i] += v[i];
    }
  if (needs_grad({base, src})) {
    record(out, "index_add", {base, src}, [dim, ic](const Tensor& g) {
      return std::vector<Tensor>{g, index_select(g, dim, ic)};
    });
  }
  return out;
}

Tensor gather(const Tensor& x, int64_t dim, const Tensor& idx) {
  SIGNET_DISPATCH("gather", {x, idx});
  dim = norm_dim(dim, x, "gather");
  SIGNET_CHECK(idx.dtype() == DType::I64 && idx.dim() == x.dim(), "gather: indices must be int64 with {} dims", x.dim());
  for (int64_t i = 0; i < x.dim(); ++i)
    SIGNET_CHECK(i == dim || idx.shape()[i] == x.shape()[i], "gather: index shape {} does not match {} outside dim {}",
                 shape_str(idx.shape()), shape_str(x.shape()), dim);
  const Tensor xc = x.contiguous(), ic = idx.contiguous();
  Tensor out = Tensor::empty(idx.shape());
  const Split s = split_at(x.shape(), dim);
  const int64_t K = idx.shape()[dim];
  for (int64_t o = 0; o < s.outer; ++o)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t i = 0; i < s.inner; ++i) {
        const int64_t j = ic.i64()[(o * K + k) * s.inner + i];
        check_index(j, s.n, "gather");
        out.f32()[(o * K + k) * s.inner + i] = xc.f32()[(o * s.n + j) * s.inner + i];
      }
  if (needs_grad({x})) {
    record(out, "gather", {x}, [xs = x.shape(), dim, ic](const Tensor& g) {
      return std::vector<Tensor>{scatter_add(Tensor::zeros(xs), dim, ic, g)};
    });
  }
  return out;
}

Tensor scatter_add(const Tensor& base, int64_t dim, const Tensor& idx, const Tensor& src) {
  SIGNET_DISPATCH("scatter_add", {base, idx, src});
  dim = norm_dim(dim, base, "scatter_add");
  SIGNET_CHECK(src.shape() == idx.shape(), "scatter_add: source {} and index {} shapes differ",
               shape_str(src.shape()), shape_str(idx.shape()));
  SIGNET_CHECK(idx.dtype() == DType::I64 && idx.dim() == base.dim(), "scatter_add: indices must be int64 with {} dims", base.dim());
  for (int64_t i = 0; i < base.dim(); ++i)
    SIGNET_CHECK(i == dim || idx.shape()[i] == base.shape()[i], "scatter_add: index shape {} does not match {} outside dim {}",
                 shape_str(idx.shape()), shape_str(base.shape()), dim);
  Tensor out = base.clone();
  const Tensor sc = src.contiguous(), ic = idx.contiguous();
  const Split s = split_at(base.shape(), dim);
  const int64_t K = idx.shape()[dim];
  for (int64_t o = 0; o < s.outer; ++o)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t i = 0; i < s.inner; ++i) {
        const int64_t j = ic.i64()[(o * K + k) * s.inner + i];
        check_index(j, s.n, "scatter_add");
        out.f32()[(o * s.n + j) * s.inner + i] += sc.f32()[(o * K + k) * s.inner + i];
      }
  if (needs_grad({base, src})) {
    record(out, "scatter_add", {base, src}, [dim, ic](const Tensor& g) {
      return std::vector<Tensor>{g, gather(g, dim, ic)};
    });
  }
  return out;
}

Tensor argmax(const Tensor& x, int64_t dim) {
  SIGNET_DISPATCH("argmax", {x});
  dim = norm_dim(dim, x, "argmax");
  SIGNET_CHECK(x.shape()[dim] > 0, "argmax: empty dimension in {}", shape_str(x.shape()));
  const Tensor xc = x.contiguous();
  const Split s = split_at(x.shape(), dim);
  Shape os = x.shape();
  os.erase(os.begin() + dim);
  Tensor out = Tensor::empty(os, DType::I64);
  for (int64_t o = 0; o < s.outer; ++o)
    for (int64_t i = 0; i < s.inner; ++i) {
      const float* p = xc.f32() + o * s.n * s.inner + i;
      int64_t best = 0;
      for (int64_t k = 1; k < s.n; ++k)
        if (p[k * s.inner] > p[best * s.inner]) best = k;
      out.i64()[o * s.inner + i] = best;
    }
  return out;
}

}  // namespace signet
