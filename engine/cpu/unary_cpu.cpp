#include <Eigen/Core>
#include <cmath>
#include <omp.h>

#include "engine/ops/dispatch.h"
#include "engine/ops/unary.h"

namespace signet::cpu {

void unary_ref(UnaryOp op, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    switch (op) {
      case UnaryOp::Relu: y[i] = x[i] > 0 ? x[i] : 0.0f; break;
      case UnaryOp::Sigmoid: y[i] = 1.0f / (1.0f + std::exp(-x[i])); break;
      case UnaryOp::Tanh: y[i] = std::tanh(x[i]); break;
      case UnaryOp::Exp: y[i] = std::exp(x[i]); break;
      case UnaryOp::Log: y[i] = std::log(x[i]); break;
    }
  }
}

namespace {
using Arr = Eigen::Map<Eigen::ArrayXf>;
using CArr = Eigen::Map<const Eigen::ArrayXf>;

void unary_chunk(UnaryOp op, const float* x, float* y, int64_t n) {
  CArr a(x, n);
  Arr b(y, n);
  switch (op) {
    case UnaryOp::Relu: b = a.max(0.0f); break;
    // Eigen's logistic is vectorised and stable for large |x|.
    case UnaryOp::Sigmoid: b = a.logistic(); break;
    case UnaryOp::Tanh: b = a.tanh(); break;
    case UnaryOp::Exp: b = a.exp(); break;
    case UnaryOp::Log: b = a.log(); break;
  }
}
}  // namespace

void unary_fast(UnaryOp op, const float* x, float* y, int64_t n) {
  if (n < kParallelGrain) {
    unary_chunk(op, x, y, n);
    return;
  }
#pragma omp parallel
  {
    const int nt = omp_get_num_threads(), t = omp_get_thread_num();
    const int64_t chunk = (n + nt - 1) / nt;
    const int64_t b = std::min<int64_t>(n, t * chunk), e = std::min<int64_t>(n, b + chunk);
    if (e > b) unary_chunk(op, x + b, y + b, e - b);
  }
}

void relu_grad_ref(const float* g, const float* x, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] > 0 ? g[i] : 0.0f;
}

void relu_grad_fast(const float* g, const float* x, float* out, int64_t n) {
#pragma omp parallel for simd if (n >= kParallelGrain) schedule(static)
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] > 0 ? g[i] : 0.0f;
}

}  // namespace signet::cpu
