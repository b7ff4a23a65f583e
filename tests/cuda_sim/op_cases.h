// One table of op test cases, run on every backend against the CPU reference (the idea of
// ggml's test-backend-ops). A case names the op, its inputs (shapes, float ranges or int64 ids)
// and a function of them, with a tolerance. run_on(case, device, reference) runs it forward and,
// for cases with a backward, back from a fixed random output gradient, and returns the output
// and every float input's gradient, all as host floats. The reference is the CPU with its
// plain-loop kernels (CpuReferenceKernels); the backends are the CPU's fast kernels, the tests'
// emulated GPU (tests/cuda_sim/test_op_table.cpp) and a real GPU (tests/cuda/test_op_table_gpu.cpp).
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/ops.h"
#include "engine/ops/batchnorm.h"
#include "engine/ops/conv2d.h"
#include "engine/ops/dispatch.h"
#include "engine/ops/embedding.h"
#include "engine/ops/index.h"
#include "engine/ops/loss.h"
#include "engine/ops/lstm.h"
#include "engine/ops/pool.h"
#include "engine/rng.h"

namespace signet::testing {

struct OpInput {
  Shape shape;
  float lo = -2.0f, hi = 2.0f;  // float inputs: uniform in [lo, hi)
  int64_t ids = 0;              // > 0: int64 ids uniform in [0, ids) (no gradient)
  bool grad = true;             // a float input whose gradient the case checks
};

struct OpCase {
  std::string name;
  std::vector<OpInput> inputs;
  std::function<Tensor(const std::vector<Tensor>&)> fn;
  float tol = 1e-5f;      // |got - ref| <= tol + tol |ref|
  bool backward = true;   // also compare the float inputs' gradients
};

inline Tensor op_input(const OpInput& in, uint64_t seed) {
  Rng rng(seed);
  const int64_t n = shape_numel(in.shape);
  if (in.ids > 0) {
    std::vector<int64_t> v(static_cast<size_t>(n));
    for (int64_t& x : v) x = static_cast<int64_t>(rng.below(static_cast<uint64_t>(in.ids)));
    return Tensor::from_vector_i64(v, in.shape);
  }
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = rng.uniform(in.lo, in.hi);
  return Tensor::from_vector(v, in.shape);
}

// The output and the checked gradients of one case on `device`, as host floats (one vector each).
inline std::vector<std::vector<float>> run_on(const OpCase& c, const Device& device, bool reference) {
  std::unique_ptr<CpuReferenceKernels> ref;
  if (reference) ref = std::make_unique<CpuReferenceKernels>();
  std::vector<Tensor> in;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    const Tensor host = op_input(c.inputs[i], 100 + i);
    Tensor t = device.is_cpu() ? host.clone() : host.to(device);
    if (c.backward && c.inputs[i].ids == 0 && c.inputs[i].grad) t.set_requires_grad(true);
    in.push_back(t);
  }
  const Tensor out = c.fn(in);
  std::vector<std::vector<float>> got(1);
  if (out.dtype() == DType::I64) {  // positions (argmax), compared as floats
    for (int64_t v : out.to_vector_i64()) got[0].push_back(static_cast<float>(v));
  } else {
    got[0] = out.to_vector();
  }
  if (!c.backward) return got;
  const Tensor seed = op_input(OpInput{out.shape(), -1.0f, 1.0f}, 7);
  out.backward(device.is_cpu() ? seed : seed.to(device));
  for (size_t i = 0; i < in.size(); ++i)
    if (in[i].requires_grad()) got.push_back(in[i].grad().to_vector());
  return got;
}

inline const std::vector<OpCase>& op_cases() {
  using V = std::vector<Tensor>;
  static const std::vector<OpCase> cases = {
      {"relu", {{{7, 33}}}, [](const V& v) { return relu(v[0]); }},
      {"sigmoid", {{{7, 33}}}, [](const V& v) { return sigmoid(v[0]); }},
      {"tanh", {{{7, 33}}}, [](const V& v) { return tanh(v[0]); }},
      {"exp", {{{7, 33}}}, [](const V& v) { return exp(v[0]); }},
      {"log", {{{7, 33}, 0.1f, 3.0f}}, [](const V& v) { return log(v[0]); }},
      {"add, broadcast rows", {{{7, 33}}, {{33}}}, [](const V& v) { return v[0] + v[1]; }},
      {"sub, broadcast columns", {{{7, 33}}, {{7, 1}}}, [](const V& v) { return v[0] - v[1]; }},
      {"mul, both broadcast", {{{7, 1, 5}}, {{1, 9, 5}}}, [](const V& v) { return v[0] * v[1]; }},
      {"div", {{{7, 33}}, {{7, 33}, 0.5f, 2.0f}}, [](const V& v) { return v[0] / v[1]; }},
      {"scalar forms", {{{5, 9}}}, [](const V& v) { return rsub_scalar(0.5f, add_scalar(v[0] * 3.0f, 1.0f)); }},
      {"sum over dims 0, 2", {{{4, 5, 6}}}, [](const V& v) { return sum(v[0], {0, 2}); }, 1e-4f},
      {"mean, keepdim", {{{4, 5, 6}}}, [](const V& v) { return mean(v[0], {1}, true); }, 1e-4f},
      {"softmax", {{{6, 11}, -5.0f, 5.0f}}, [](const V& v) { return softmax(v[0], 1); }},
      {"log_softmax over dim 0", {{{6, 11}, -5.0f, 5.0f}}, [](const V& v) { return log_softmax(v[0], 0); }},
      {"cross_entropy", {{{9, 10}, -4.0f, 4.0f}, {{9}, 0, 0, 10}},
       [](const V& v) { return cross_entropy(v[0], v[1]); }},
      {"bce_with_logits", {{{13}, -6.0f, 6.0f}, {{13}, 0.0f, 1.0f, 0, false}},
       [](const V& v) { return bce_with_logits(v[0], v[1]); }},
      {"matmul", {{{9, 17}}, {{17, 5}}}, [](const V& v) { return matmul(v[0], v[1]); }, 1e-4f},
      {"matmul of transposes", {{{17, 9}}, {{5, 17}}},
       [](const V& v) { return matmul(transpose(v[0], 0, 1), transpose(v[1], 0, 1)); }, 1e-4f},
      {"linear", {{{9, 17}}, {{5, 17}}, {{5}}}, [](const V& v) { return linear(v[0], v[1], v[2]); }, 1e-4f},
      {"conv2d 3x3, padding 1", {{{2, 3, 8, 7}}, {{4, 3, 3, 3}}, {{4}}},
       [](const V& v) { return conv2d(v[0], v[1], v[2], 1, 1); }, 1e-4f},
      {"conv2d 3x3, stride 2", {{{2, 3, 9, 9}}, {{4, 3, 3, 3}}, {{4}}},
       [](const V& v) { return conv2d(v[0], v[1], v[2], 2, 0); }, 1e-4f},
      {"conv2d 1x1", {{{2, 6, 5, 5}}, {{3, 6, 1, 1}}}, [](const V& v) { return conv2d(v[0], v[1]); }, 1e-4f},
      {"max_pool2d 2x2", {{{2, 3, 8, 6}}}, [](const V& v) { return max_pool2d(v[0], 2); }},
      {"max_pool2d 3x3 stride 2 padding 1", {{{2, 3, 9, 7}}}, [](const V& v) { return max_pool2d(v[0], 3, 2, 1); }},
      {"avg_pool2d 2x2", {{{2, 3, 8, 6}}}, [](const V& v) { return avg_pool2d(v[0], 2); }},
      {"global_avg_pool", {{{3, 4, 5, 6}}}, [](const V& v) { return global_avg_pool(v[0]); }},
      {"batch_norm, training", {{{5, 3, 4, 4}}, {{3}, 0.5f, 2.0f}, {{3}}},
       [](const V& v) { return batch_norm(v[0], v[1], v[2], Tensor(), Tensor(), true); }, 1e-4f},
      {"batch_norm, evaluation", {{{5, 3, 4, 4}}, {{3}, 0.5f, 2.0f}, {{3}}, {{3}, -1, 1, 0, false},
                                  {{3}, 0.5f, 2.0f, 0, false}},
       [](const V& v) { return batch_norm(v[0], v[1], v[2], v[3].detach(), v[4].detach(), false); }, 1e-4f},
      {"embedding", {{{11, 6}}, {{3, 4}, 0, 0, 11}}, [](const V& v) { return embedding(v[0], v[1]); }},
      {"lstm", {{{3, 5, 4}, -1.0f, 1.0f}, {{8, 4}, -0.5f, 0.5f}, {{8, 2}, -0.5f, 0.5f}, {{8}}, {{8}}},
       [](const V& v) { return lstm(v[0], v[1], v[2], v[3], v[4]).output; }, 1e-4f},
      {"concat and narrow", {{{2, 3, 4}}, {{2, 5, 4}}},
       [](const V& v) { return narrow(concat({v[0], v[1]}, 1), 1, 2, 4); }},
      {"transpose, then contiguous", {{{3, 4, 5}}},
       [](const V& v) { return contiguous(transpose(v[0], 0, 2)) * 2.0f; }},
      {"index_select", {{{6, 5}}, {{4}, 0, 0, 6}}, [](const V& v) { return index_select(v[0], 0, v[1]); }},
      {"gather", {{{4, 6}}, {{4, 3}, 0, 0, 6}}, [](const V& v) { return gather(v[0], 1, v[1]); }},
      {"index_add", {{{6, 5}}, {{4}, 0, 0, 6}, {{4, 5}}},
       [](const V& v) { return index_add(v[0], 0, v[1], v[2]); }},
      {"scatter_add", {{{4, 6}}, {{4, 3}, 0, 0, 6}, {{4, 3}}},
       [](const V& v) { return scatter_add(v[0], 1, v[1], v[2]); }},
      {"argmax", {{{5, 7}}}, [](const V& v) { return argmax(v[0], 1); }, 0.0f, false},
  };
  return cases;
}

}  // namespace signet::testing
