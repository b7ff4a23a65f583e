#include <vector>

#include "engine/ops/binary.h"
#include "engine/ops/dispatch.h"

namespace signet::cpu {

namespace {
template <BinaryOp OP>
inline float apply(float x, float y) {
  if constexpr (OP == BinaryOp::Add) return x + y;
  if constexpr (OP == BinaryOp::Sub) return x - y;
  if constexpr (OP == BinaryOp::Mul) return x * y;
  return x / y;
}

float apply_rt(BinaryOp op, float x, float y) {
  switch (op) {
    case BinaryOp::Add: return x + y;
    case BinaryOp::Sub: return x - y;
    case BinaryOp::Mul: return x * y;
    case BinaryOp::Div: return x / y;
  }
  return 0;
}

template <BinaryOp OP>
void same_shape(const float* a, const float* b, float* o, int64_t n) {
#pragma omp parallel for simd if (n >= kParallelGrain) schedule(static)
  for (int64_t i = 0; i < n; ++i) o[i] = apply<OP>(a[i], b[i]);
}

// a: [rows, cols] contiguous, b: [cols] (or the mirror case when b_is_rows is false).
template <BinaryOp OP>
void row_broadcast(const float* a, const float* b, float* o, int64_t rows, int64_t cols,
                   bool a_full) {
#pragma omp parallel for if (rows * cols >= kParallelGrain) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float* ar = a_full ? a + r * cols : a;
    const float* br = a_full ? b : b + r * cols;
    float* orow = o + r * cols;
#pragma omp simd
    for (int64_t c = 0; c < cols; ++c) orow[c] = apply<OP>(ar[c], br[c]);
  }
}

template <BinaryOp OP>
void dispatch_fast(const Tensor& a, const Tensor& b, Tensor& out) {
  const int64_t n = out.numel();
  float* o = out.f32();
  const bool ac = a.is_contiguous(), bc = b.is_contiguous();
  if (ac && bc && a.numel() == n && b.numel() == n) {
    same_shape<OP>(a.f32(), b.f32(), o, n);
    return;
  }
  if (ac && bc && b.numel() == 1) {
    const float s = *b.f32();
    const float* pa = a.f32();
    if (a.numel() == n) {
#pragma omp parallel for simd if (n >= kParallelGrain) schedule(static)
      for (int64_t i = 0; i < n; ++i) o[i] = apply<OP>(pa[i], s);
      return;
    }
  }
  if (ac && bc && a.numel() == 1 && b.numel() == n) {
    const float s = *a.f32();
    const float* pb = b.f32();
#pragma omp parallel for simd if (n >= kParallelGrain) schedule(static)
    for (int64_t i = 0; i < n; ++i) o[i] = apply<OP>(s, pb[i]);
    return;
  }
  // Row broadcast: the smaller operand equals the trailing dims of the output.
  const int64_t cols_b = b.numel(), cols_a = a.numel();
  if (ac && bc && a.numel() == n && cols_b > 0 && n % cols_b == 0 &&
      b.shape().size() <= out.shape().size() &&
      Shape(out.shape().end() - b.dim(), out.shape().end()) == b.shape()) {
    row_broadcast<OP>(a.f32(), b.f32(), o, n / cols_b, cols_b, true);
    return;
  }
  if (ac && bc && b.numel() == n && cols_a > 0 && n % cols_a == 0 &&
      a.shape().size() <= out.shape().size() &&
      Shape(out.shape().end() - a.dim(), out.shape().end()) == a.shape()) {
    row_broadcast<OP>(a.f32(), b.f32(), o, n / cols_a, cols_a, false);
    return;
  }
  binary_ref(OP, a, b, out);
}
}  // namespace

void binary_ref(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) {
  // Broadcasting as stride-0 views, then one row-major walk over all three.
  const Tensor ea = a.expand_view(out.shape());
  const Tensor eb = b.expand_view(out.shape());
  std::vector<int64_t> offs_a, offs_b;
  offs_a.reserve(out.numel());
  offs_b.reserve(out.numel());
  for_each_offset(ea.shape(), ea.strides(), ea.offset(), [&](int64_t o) { offs_a.push_back(o); });
  for_each_offset(eb.shape(), eb.strides(), eb.offset(), [&](int64_t o) { offs_b.push_back(o); });
  const float* pa = static_cast<const float*>(a.storage()->data());
  const float* pb = static_cast<const float*>(b.storage()->data());
  float* o = out.f32();
  for (int64_t i = 0, n = out.numel(); i < n; ++i) o[i] = apply_rt(op, pa[offs_a[i]], pb[offs_b[i]]);
}

void binary_fast(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) {
  switch (op) {
    case BinaryOp::Add: return dispatch_fast<BinaryOp::Add>(a, b, out);
    case BinaryOp::Sub: return dispatch_fast<BinaryOp::Sub>(a, b, out);
    case BinaryOp::Mul: return dispatch_fast<BinaryOp::Mul>(a, b, out);
    case BinaryOp::Div: return dispatch_fast<BinaryOp::Div>(a, b, out);
  }
}

void scale(const float* src, float a, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = a * src[i];
}

void add_relu_ref(const float* a, const float* b, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float v = a[i] + b[i];
    out[i] = v > 0 ? v : 0.0f;
  }
}

void add_relu_fast(const float* a, const float* b, float* out, int64_t n) {
#pragma omp parallel for simd if (n >= kParallelGrain) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const float v = a[i] + b[i];
    out[i] = v > 0 ? v : 0.0f;
  }
}

}  // namespace signet::cpu
