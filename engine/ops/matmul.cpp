#include "engine/ops/matmul.h"

#include "engine/autograd.h"
#include "engine/ops/dispatch.h"
#include "engine/ops/reduce.h"
#include "engine/ops/shape.h"

namespace signet {

namespace {
// A 2-d operand as BLAS sees it: row-major (strides [ld, 1]) or a transpose of one
// (strides [1, ld]). Anything else is packed first.
struct Operand {
  Tensor t;  // keeps the storage alive
  const float* p;
  bool trans;
  int64_t ld;
};
Operand as_operand(const Tensor& x) {
  const auto& st = x.strides();
  const auto& sh = x.shape();
  if (st[1] == 1 && st[0] >= std::max<int64_t>(sh[1], 1)) return {x, x.f32(), false, st[0]};
  if (st[0] == 1 && st[1] >= std::max<int64_t>(sh[0], 1)) return {x, x.f32(), true, st[1]};
  Tensor c = x.clone();
  return {c, c.f32(), false, std::max<int64_t>(sh[1], 1)};
}
void check2d(const Tensor& t, const char* op, const char* what) {
  SIGNET_CHECK(t.dim() == 2 && t.dtype() == DType::F32, "{}: {} must be a 2-d float32 tensor, got {}", op, what, t.str());
}
}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  SIGNET_DISPATCH("matmul", {a, b});
  check2d(a, "matmul", "a");
  check2d(b, "matmul", "b");
  SIGNET_CHECK(a.size(1) == b.size(0), "matmul: inner dimensions differ: {} x {}", shape_str(a.shape()), shape_str(b.shape()));
  const int64_t M = a.size(0), K = a.size(1), N = b.size(1);
  Tensor out = Tensor::empty({M, N});
  if (K == 0) {
    out.fill_(0.0f);
  } else {
    const Operand oa = as_operand(a), ob = as_operand(b);
    cpu::gemm_fast(oa.trans, ob.trans, M, N, K, 1.0f, oa.p, oa.ld, ob.p, ob.ld, 0.0f, out.f32(), std::max<int64_t>(N, 1));
  }
  if (needs_grad({a, b})) {
    const bool ga = a.requires_grad(), gb = b.requires_grad();
    record(out, "matmul", {a, b}, [a, b, ga, gb](const Tensor& g) {
      return std::vector<Tensor>{ga ? matmul(g, transpose(b, 0, 1)) : Tensor(),
                                 gb ? matmul(transpose(a, 0, 1), g) : Tensor()};
    });
  }
  return out;
}

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias) {
  SIGNET_DISPATCH("linear", {x, w, bias});
  check2d(x, "linear", "input");
  check2d(w, "linear", "weight");
  SIGNET_CHECK(x.size(1) == w.size(1), "linear: input has {} features but the weight {} expects {}",
               x.size(1), shape_str(w.shape()), w.size(1));
  const int64_t B = x.size(0), in = x.size(1), outf = w.size(0);
  if (bias.defined())
    SIGNET_CHECK(bias.dim() == 1 && bias.size(0) == outf, "linear: bias shape {} should be [{}]", shape_str(bias.shape()), outf);
  Tensor out = Tensor::empty({B, outf});
  // Fused bias: the rows start as the bias, then GEMM accumulates with beta = 1.
  float beta = 0.0f;
  if (bias.defined()) {
    const Tensor bc = bias.contiguous();
    float* o = out.f32();
    const float* pb = bc.f32();
    for (int64_t r = 0; r < B; ++r)
      for (int64_t c = 0; c < outf; ++c) o[r * outf + c] = pb[c];
    beta = 1.0f;
  } else if (in == 0) {
    out.fill_(0.0f);
  }
  if (in > 0) {
    const Operand ox = as_operand(x), ow = as_operand(w);
    // out = x w^T: w's operand is transposed once more.
    cpu::gemm_fast(ox.trans, !ow.trans, B, outf, in, 1.0f, ox.p, ox.ld, ow.p, ow.ld, beta, out.f32(), std::max<int64_t>(outf, 1));
  }
  if (needs_grad({x, w, bias})) {
    const bool gx = x.requires_grad(), gw = w.requires_grad();
    const bool gbias = bias.defined() && bias.requires_grad();
    record(out, "linear", {x, w, bias}, [x, w, gx, gw, gbias](const Tensor& g) {
      return std::vector<Tensor>{gx ? matmul(g, w) : Tensor(),
                                 gw ? matmul(transpose(g, 0, 1), x) : Tensor(),
                                 gbias ? sum(g, {0}) : Tensor()};
    });
  }
  return out;
}

}  // namespace signet
