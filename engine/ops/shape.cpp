#include "engine/ops/shape.h"

#include "engine/autograd.h"
#include "engine/ops/dispatch.h"

namespace signet {

Tensor reshape(const Tensor& x, Shape shape) {
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      SIGNET_CHECK(infer < 0, "reshape: more than one -1 in {}", shape_str(shape));
      infer = static_cast<int64_t>(i);
    } else {
      SIGNET_CHECK(shape[i] >= 0 && !__builtin_mul_overflow(known, shape[i], &known),
                   "reshape: cannot reshape {} into {}", shape_str(x.shape()), shape_str(shape));
    }
  }
  if (infer >= 0) {
    SIGNET_CHECK(known > 0 && x.numel() % known == 0, "reshape: cannot reshape {} into {}",
                 shape_str(x.shape()), shape_str(shape));
    shape[infer] = x.numel() / known;
  }
  SIGNET_CHECK(shape_numel(shape) == x.numel(), "reshape: cannot reshape {} ({} elements) into {}",
               shape_str(x.shape()), x.numel(), shape_str(shape));
  if (shape == x.shape()) return x;
  Tensor out = x.contiguous().view_as_shape(shape);
  if (needs_grad({x})) {
    record(out, "reshape", {x}, [xs = x.shape()](const Tensor& g) {
      return std::vector<Tensor>{reshape(g, xs)};
    });
  }
  return out;
}

Tensor flatten(const Tensor& x, int64_t start_dim) {
  if (start_dim < 0) start_dim += x.dim();
  SIGNET_CHECK(start_dim >= 0 && start_dim < std::max<int64_t>(x.dim(), 1),
               "flatten: start_dim out of range for shape {}", shape_str(x.shape()));
  Shape s(x.shape().begin(), x.shape().begin() + start_dim);
  int64_t rest = 1;
  for (int64_t i = start_dim; i < x.dim(); ++i) rest *= x.shape()[i];
  s.push_back(rest);
  return reshape(x, s);
}

Tensor transpose(const Tensor& x, int64_t d0, int64_t d1) {
  Tensor out = x.transpose_view(d0, d1);
  if (needs_grad({x})) {
    record(out, "transpose", {x}, [d0, d1](const Tensor& g) {
      return std::vector<Tensor>{transpose(g, d0, d1)};
    });
  }
  return out;
}

Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length) {
  if (dim < 0) dim += x.dim();
  Tensor out = x.narrow_view(dim, start, length);
  if (needs_grad({x})) {
    record(out, "narrow", {x}, [xs = x.shape(), dim, start](const Tensor& g) {
      return std::vector<Tensor>{narrow_pad(g, xs, dim, start)};
    });
  }
  return out;
}

Tensor narrow_pad(const Tensor& g, const Shape& full_shape, int64_t dim, int64_t start) {
  SIGNET_DISPATCH_CPU_OR_CUDA("narrow_pad", {g});  // zeros and a copy into a view: any device
  Tensor out = Tensor::zeros(full_shape, g.dtype(), g.device());
  out.narrow_view(dim, start, g.shape()[dim]).copy_(g);
  if (needs_grad({g})) {
    const int64_t len = g.shape()[dim];
    record(out, "narrow_pad", {g}, [dim, start, len](const Tensor& gg) {
      return std::vector<Tensor>{narrow(gg, dim, start, len)};
    });
  }
  return out;
}

Tensor concat(const std::vector<Tensor>& xs, int64_t dim) {
  profiler::OpScope profile_op("concat");
  SIGNET_CHECK(!xs.empty(), "concat: no tensors given");
  const Tensor& first = xs[0];
  if (dim < 0) dim += first.dim();
  SIGNET_CHECK(dim >= 0 && dim < first.dim(), "concat: dim out of range for shape {}",
               shape_str(first.shape()));
  Shape out_shape = first.shape();
  int64_t total = 0;
  for (const Tensor& t : xs) {
    backend_for("concat", {first, t}, true);  // copies into views of the output: any device
    SIGNET_CHECK(t.dim() == first.dim() && t.dtype() == first.dtype(),
                 "concat: {} does not match {}", t.str(), first.str());
    for (int64_t i = 0; i < t.dim(); ++i)
      SIGNET_CHECK(i == dim || t.shape()[i] == first.shape()[i],
                   "concat: shapes {} and {} differ outside dim {}", shape_str(first.shape()),
                   shape_str(t.shape()), dim);
    total += t.shape()[dim];
  }
  out_shape[dim] = total;
  Tensor out = Tensor::empty(out_shape, first.dtype(), first.device());
  int64_t at = 0;
  std::vector<int64_t> starts;
  for (const Tensor& t : xs) {
    starts.push_back(at);
    out.narrow_view(dim, at, t.shape()[dim]).copy_(t);
    at += t.shape()[dim];
  }
  if (needs_grad(xs)) {
    std::vector<int64_t> lens;
    for (const Tensor& t : xs) lens.push_back(t.shape()[dim]);
    record(out, "concat", xs, [dim, starts, lens](const Tensor& g) {
      std::vector<Tensor> gs;
      for (size_t i = 0; i < starts.size(); ++i) gs.push_back(narrow(g, dim, starts[i], lens[i]));
      return gs;
    });
  }
  return out;
}

Tensor contiguous(const Tensor& x) {
  if (x.is_contiguous()) return x;
  Tensor out = x.clone();
  if (needs_grad({x})) {
    record(out, "contiguous", {x}, [](const Tensor& g) { return std::vector<Tensor>{g}; });
  }
  return out;
}

}  // namespace signet
