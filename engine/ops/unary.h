// Element-wise unary ops on float32 tensors of any shape.
//
// relu(x) = max(x, 0)                 d/dx = 1 if x > 0 else 0 (0 at the kink, as PyTorch)
// sigmoid(x) = 1 / (1 + e^-x)         d/dx = y (1 - y)
// tanh(x)                             d/dx = 1 - y^2
// exp(x)                              d/dx = y
// log(x)  (x > 0)                     d/dx = 1 / x
// relu_grad(g, x) = g where x > 0, else 0: relu's backward, itself linear in g so that
//   double backward works (its gradient w.r.t. g is relu_grad again; x is treated as a constant).
#pragma once
#include "engine/tensor.h"

namespace signet {

Tensor relu(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor relu_grad(const Tensor& g, const Tensor& x);

enum class UnaryOp { Relu, Sigmoid, Tanh, Exp, Log };

namespace cpu {
void unary_ref(UnaryOp op, const float* x, float* y, int64_t n);   // std:: math, one at a time
void unary_fast(UnaryOp op, const float* x, float* y, int64_t n);  // Eigen's vectorised math + OpenMP
void relu_grad_ref(const float* g, const float* x, float* out, int64_t n);
void relu_grad_fast(const float* g, const float* x, float* out, int64_t n);
}  // namespace cpu

}  // namespace signet
