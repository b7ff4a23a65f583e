// Test helpers for the engine: random tensors, element-wise comparison that names the worst
// element, and finite-difference gradient checks (first and second order).
//
// gradcheck(f, inputs): f maps the inputs to an output of any shape. The output is reduced to a
// scalar with a fixed random projection L = sum(out * R), so every output element matters.
// Autograd's dL/dx (signet::grad with grad_output = R) is compared with central differences
// (L(x + eps) - L(x - eps)) / 2 eps, where f is evaluated in float32 and the difference is
// taken in double. int64 inputs (labels, indices) are passed through and never perturbed.
//
// gradgradcheck(f, inputs): with V fixed random tensors, G(x) = sum_j <dL/dx_j, V_j> where the
// first-order gradient is built with create_graph = true; autograd's dG/dx is compared with
// central differences of G (each G evaluated by a plain first-order backward).
//
// Both return a gtest AssertionResult: EXPECT_TRUE(gradcheck(...)) prints the worst element.
// SIGNET_GRADCHECK_VERBOSE=1 prints every check's worst element (for tuning tolerances).
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/rng.h"
#include "engine/tensor.h"

namespace signet::test {

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

// ---------------------------------------------------------------- random tensors
// Uniform in [lo, hi); with margin > 0 values closer than margin to zero are redrawn (keeps
// inputs away from kinks such as relu at 0, or poles such as 1/x).
inline Tensor uniform_tensor(const Shape& shape, Rng& rng, float lo = -1.0f, float hi = 1.0f,
                             float margin = 0.0f) {
  Tensor t = Tensor::empty(shape);
  float* p = t.f32();
  for (int64_t i = 0; i < t.numel(); ++i) {
    float v;
    do { v = rng.uniform(lo, hi); } while (std::fabs(v) < margin);
    p[i] = v;
  }
  return t;
}

inline Tensor normal_tensor(const Shape& shape, Rng& rng, float stddev = 1.0f) {
  Tensor t = Tensor::empty(shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = static_cast<float>(rng.normal()) * stddev;
  return t;
}

inline Tensor randint_tensor(const Shape& shape, Rng& rng, int64_t n) {
  Tensor t = Tensor::empty(shape, DType::I64);
  for (int64_t i = 0; i < t.numel(); ++i) t.i64()[i] = static_cast<int64_t>(rng.below(n));
  return t;
}

// ---------------------------------------------------------------- comparison
// |actual - expected| <= atol + rtol * |expected| for every element; on failure the message
// names the worst element (largest error relative to its tolerance) and the count failing.
inline ::testing::AssertionResult all_close(const std::vector<float>& actual,
                                            const std::vector<float>& expected, double atol,
                                            double rtol, const std::string& what = "") {
  if (actual.size() != expected.size())
    return ::testing::AssertionFailure() << what << ": size " << actual.size() << " vs expected "
                                         << expected.size();
  double worst = -1;
  size_t worst_i = 0, bad = 0;
  for (size_t i = 0; i < actual.size(); ++i) {
    const double a = actual[i], e = expected[i];
    const double tol = atol + rtol * std::fabs(e);
    double ratio = std::fabs(a - e) / tol;
    if (std::isnan(a) != std::isnan(e) || std::isinf(a) != std::isinf(e)) ratio = INFINITY;
    if (std::isnan(a) && std::isnan(e)) ratio = 0;
    if (std::isinf(a) && std::isinf(e) && a == e) ratio = 0;
    if (ratio > 1) ++bad;
    if (ratio > worst) { worst = ratio; worst_i = i; }
  }
  std::ostringstream msg;
  if (!actual.empty())
    msg << what << ": worst element " << worst_i << " got " << actual[worst_i] << " expected "
        << expected[worst_i] << " (err/tol " << worst << ", atol " << atol << ", rtol " << rtol
        << "); " << bad << " of " << actual.size() << " out of tolerance";
  if (bad) return ::testing::AssertionFailure() << msg.str();
  return ::testing::AssertionSuccess() << msg.str();
}

inline ::testing::AssertionResult all_close(const Tensor& actual, const Tensor& expected,
                                            double atol = 1e-5, double rtol = 1e-5,
                                            const std::string& what = "tensor") {
  if (actual.shape() != expected.shape())
    return ::testing::AssertionFailure() << what << ": shape " << shape_str(actual.shape())
                                         << " vs expected " << shape_str(expected.shape());
  return all_close(actual.to_vector(), expected.to_vector(), atol, rtol, what);
}

inline ::testing::AssertionResult all_close(const Tensor& actual, const std::vector<float>& expected,
                                            double atol = 1e-5, double rtol = 1e-5,
                                            const std::string& what = "tensor") {
  return all_close(actual.to_vector(), expected, atol, rtol, what);
}

// Runs f and expects a signet::Error whose message contains `key`.
inline ::testing::AssertionResult throws_error(const std::function<void()>& f,
                                               const std::string& key) {
  try {
    f();
  } catch (const Error& e) {
    if (std::string(e.what()).find(key) != std::string::npos)
      return ::testing::AssertionSuccess() << "message: " << e.what();
    return ::testing::AssertionFailure() << "Error message '" << e.what() << "' lacks '" << key
                                         << "'";
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "threw a non-signet exception: " << e.what();
  }
  return ::testing::AssertionFailure() << "no Error thrown (expected one mentioning '" << key
                                       << "')";
}

// ---------------------------------------------------------------- gradient checks
struct GradCheckOptions {
  double eps = 1e-2;   // central-difference step
  double atol = 2e-3;  // |autograd - numeric| <= atol + rtol |numeric|
  double rtol = 2e-3;
  double kink_margin = 0;       // skip elements with |x| < kink_margin (a kink at 0)
  uint64_t seed = 20240611;     // for the projections R and V
  std::vector<bool> check;      // which inputs to check (default: every float32 input)
};

namespace detail {

inline std::vector<bool> checked_inputs(const std::vector<Tensor>& in, const GradCheckOptions& o) {
  std::vector<bool> c(in.size());
  for (size_t i = 0; i < in.size(); ++i)
    c[i] = in[i].dtype() == DType::F32 && (o.check.empty() || (i < o.check.size() && o.check[i]));
  return c;
}

// Fresh packed copies of the inputs; the checked ones become leaves requiring gradients.
inline std::vector<Tensor> make_leaves(const std::vector<Tensor>& in, const std::vector<bool>& c) {
  std::vector<Tensor> out;
  for (size_t i = 0; i < in.size(); ++i) {
    Tensor t = in[i].clone();
    if (c[i]) t.set_requires_grad(true);
    out.push_back(t);
  }
  return out;
}

inline double dot(const Tensor& a, const Tensor& b) {
  const std::vector<float> x = a.to_vector(), y = b.to_vector();
  double s = 0;
  for (size_t i = 0; i < x.size(); ++i) s += static_cast<double>(x[i]) * y[i];
  return s;
}

struct Worst {
  double ratio = -1, analytic = 0, numeric = 0;
  size_t input = 0;
  int64_t elem = 0;
  int64_t bad = 0, checked = 0;
};

// Compares analytic gradients with central differences of `scalar(inputs)`.
inline ::testing::AssertionResult compare(const char* kind, const std::vector<Tensor>& inputs,
                                          const std::vector<bool>& c,
                                          const std::vector<Tensor>& analytic,
                                          const std::function<double(const std::vector<Tensor>&)>& scalar,
                                          const GradCheckOptions& o) {
  Worst w;
  size_t a = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!c[i]) continue;
    const Tensor& an = analytic[a++];
    if (an.shape() != inputs[i].shape())
      return ::testing::AssertionFailure() << kind << ": gradient of input " << i << " has shape "
                                           << shape_str(an.shape()) << ", input "
                                           << shape_str(inputs[i].shape());
    const std::vector<float> av = an.to_vector();
    for (int64_t e = 0; e < inputs[i].numel(); ++e) {
      std::vector<Tensor> p = inputs;  // shallow; the perturbed one is replaced by a copy
      const float x0 = inputs[i].contiguous().f32()[e];
      if (o.kink_margin > 0 && std::fabs(x0) < o.kink_margin) continue;
      Tensor xp = inputs[i].clone();
      p[i] = xp;
      xp.f32()[e] = static_cast<float>(x0 + o.eps);
      const double hi = scalar(p);
      xp.f32()[e] = static_cast<float>(x0 - o.eps);
      const double lo = scalar(p);
      const double h = (static_cast<double>(static_cast<float>(x0 + o.eps)) -
                        static_cast<double>(static_cast<float>(x0 - o.eps)));
      const double num = (hi - lo) / h;
      const double err = std::fabs(av[e] - num), tol = o.atol + o.rtol * std::fabs(num);
      const double ratio = std::isfinite(av[e]) ? err / tol : INFINITY;
      ++w.checked;
      if (!(ratio <= 1)) ++w.bad;
      if (!(ratio <= w.ratio)) w = {ratio, av[e], num, i, e, w.bad, w.checked};
    }
  }
  std::ostringstream msg;
  msg << kind << ": worst input " << w.input << " element " << w.elem << " autograd " << w.analytic
      << " numeric " << w.numeric << " (err/tol " << w.ratio << "); " << w.bad << " of "
      << w.checked << " elements out of tolerance";
  if (std::getenv("SIGNET_GRADCHECK_VERBOSE")) std::fprintf(stderr, "%s\n", msg.str().c_str());
  if (w.bad > 0 || w.checked == 0) return ::testing::AssertionFailure() << msg.str();
  return ::testing::AssertionSuccess() << msg.str();
}

}  // namespace detail

// First-order check of f at `inputs`.
inline ::testing::AssertionResult gradcheck(const Fn& f, const std::vector<Tensor>& inputs,
                                            GradCheckOptions o = {}) {
  const std::vector<bool> c = detail::checked_inputs(inputs, o);
  Tensor R;
  {
    NoGradGuard ng;
    Rng rng(o.seed);
    R = normal_tensor(f(inputs).shape(), rng);
  }
  std::vector<Tensor> leaves = detail::make_leaves(inputs, c), wrt;
  for (size_t i = 0; i < leaves.size(); ++i)
    if (c[i]) wrt.push_back(leaves[i]);
  const Tensor out = f(leaves);
  if (!out.requires_grad())
    return ::testing::AssertionFailure() << "gradcheck: the output does not require gradients";
  const std::vector<Tensor> analytic = signet::grad(out, wrt, R);
  auto L = [&](const std::vector<Tensor>& x) {
    NoGradGuard ng;
    return detail::dot(f(x), R);
  };
  return detail::compare("gradcheck", inputs, c, analytic, L, o);
}

// Second-order check: d/dx of G(x) = sum_j <dL/dx_j (x), V_j>, L = sum(f(x) * R).
inline ::testing::AssertionResult gradgradcheck(const Fn& f, const std::vector<Tensor>& inputs,
                                                GradCheckOptions o = {}) {
  const std::vector<bool> c = detail::checked_inputs(inputs, o);
  Rng rng(o.seed);
  Tensor R;
  {
    NoGradGuard ng;
    R = normal_tensor(f(inputs).shape(), rng);
  }
  std::vector<Tensor> V;
  for (size_t i = 0; i < inputs.size(); ++i)
    if (c[i]) V.push_back(normal_tensor(inputs[i].shape(), rng));

  auto first_order = [&](const std::vector<Tensor>& x, bool create_graph) {
    std::vector<Tensor> leaves = detail::make_leaves(x, c), wrt;
    for (size_t i = 0; i < leaves.size(); ++i)
      if (c[i]) wrt.push_back(leaves[i]);
    const Tensor out = f(leaves);
    return std::make_pair(wrt, signet::grad(out, wrt, R, create_graph));
  };

  auto [wrt, g1] = first_order(inputs, true);
  Tensor G;
  for (size_t j = 0; j < g1.size(); ++j) {
    const Tensor term = sum(mul(g1[j], V[j]));
    G = G.defined() ? add(G, term) : term;
  }
  std::vector<Tensor> analytic;
  if (G.requires_grad()) {
    analytic = signet::grad(G, wrt);
  } else {  // the gradient does not depend on the inputs: second derivative zero
    for (const Tensor& w : wrt) analytic.push_back(Tensor::zeros(w.shape()));
  }
  auto Gnum = [&](const std::vector<Tensor>& x) {
    const std::vector<Tensor> g = first_order(x, false).second;
    double s = 0;
    for (size_t j = 0; j < g.size(); ++j) s += detail::dot(g[j], V[j]);
    return s;
  };
  return detail::compare("gradgradcheck", inputs, c, analytic, Gnum, o);
}

}  // namespace signet::test
