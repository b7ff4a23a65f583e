#include "engine/ops/matmul.h"

#include "engine/autograd.h"
#include "engine/cuda/runtime.h"
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
// The data of a tensor on its own device (a device pointer for a CUDA tensor).
float* data_on_device(const Tensor& t) { return t.device().is_cpu() ? t.f32() : t.device_f32(); }
Operand as_operand(const Tensor& x) {
  const auto& st = x.strides();
  const auto& sh = x.shape();
  if (st[1] == 1 && st[0] >= std::max<int64_t>(sh[1], 1)) return {x, data_on_device(x), false, st[0]};
  if (st[0] == 1 && st[1] >= std::max<int64_t>(sh[0], 1)) return {x, data_on_device(x), true, st[1]};
  Tensor c = x.clone();
  return {c, data_on_device(c), false, std::max<int64_t>(sh[1], 1)};
}
// GEMM on the device the operands live on: ours on the CPU, the device's library (cuBLAS) on a GPU.
void gemm_on(const Device& d, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float beta, const Operand& a,
             const Operand& b, float* c, int64_t ldc) {
  if (d.is_cpu())
    cpu_kernel(cpu::gemm_fast, cpu::gemm_ref)(ta, tb, M, N, K, 1.0f, a.p, a.ld, b.p, b.ld, beta, c, ldc);
  else
    cuda::kernels(d).gemm(ta, tb, M, N, K, 1.0f, a.p, a.ld, b.p, b.ld, beta, c, ldc, nullptr);
}
void check2d(const Tensor& t, const char* op, const char* what) {
  SIGNET_CHECK(t.dim() == 2 && t.dtype() == DType::F32, "{}: {} must be a 2-d float32 tensor, got {}", op, what, t.str());
}
}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  SIGNET_DISPATCH_CPU_OR_CUDA("matmul", {a, b});
  check2d(a, "matmul", "a");
  check2d(b, "matmul", "b");
  SIGNET_CHECK(a.size(1) == b.size(0), "matmul: inner dimensions differ: {} x {}", shape_str(a.shape()), shape_str(b.shape()));
  const int64_t M = a.size(0), K = a.size(1), N = b.size(1);
  const Device dev = a.device();
  Tensor out = Tensor::empty({M, N}, DType::F32, dev);
  if (K == 0) {
    out.fill_(0.0f);
  } else {
    const Operand oa = as_operand(a), ob = as_operand(b);
    gemm_on(dev, oa.trans, ob.trans, M, N, K, 0.0f, oa, ob, data_on_device(out), std::max<int64_t>(N, 1));
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
  SIGNET_DISPATCH_CPU_OR_CUDA("linear", {x, w, bias});
  check2d(x, "linear", "input");
  check2d(w, "linear", "weight");
  SIGNET_CHECK(x.size(1) == w.size(1), "linear: input has {} features but the weight {} expects {}",
               x.size(1), shape_str(w.shape()), w.size(1));
  const int64_t B = x.size(0), in = x.size(1), outf = w.size(0);
  if (bias.defined())
    SIGNET_CHECK(bias.dim() == 1 && bias.size(0) == outf, "linear: bias shape {} should be [{}]", shape_str(bias.shape()), outf);
  const Device dev = x.device();
  Tensor out = Tensor::empty({B, outf}, DType::F32, dev);
  // Fused bias: the rows start as the bias, then GEMM accumulates with beta = 1.
  float beta = 0.0f;
  if (bias.defined() && dev.is_cuda()) {
    // On a device the rows are set by a rank-1 product (a column of ones times the bias row).
    const Tensor bc = bias.contiguous();
    const Tensor ones = Tensor::full({B, 1}, 1.0f, dev);
    gemm_on(dev, false, false, B, outf, 1, 0.0f, {ones, ones.device_f32(), false, 1},
            {bc, bc.device_f32(), false, std::max<int64_t>(outf, 1)}, out.device_f32(), std::max<int64_t>(outf, 1));
    beta = 1.0f;
  } else if (bias.defined()) {
    const Tensor bc = bias.contiguous();
    cpu::fill_rows(out.f32(), B, outf, bc.f32());
    beta = 1.0f;
  } else if (in == 0) {
    out.fill_(0.0f);
  }
  if (in > 0) {
    const Operand ox = as_operand(x), ow = as_operand(w);
    // out = x w^T: w's operand is transposed once more.
    gemm_on(dev, ox.trans, !ow.trans, B, outf, in, beta, ox, ow, data_on_device(out), std::max<int64_t>(outf, 1));
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
