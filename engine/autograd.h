// Define-by-run reverse-mode automatic differentiation.
//
// Every op that has an input requiring gradients (while grad mode is on) records a Node on its
// output: the node keeps the op's inputs and a backward function mapping the output's gradient
// to one gradient per input. Backward functions are written with the same differentiable ops,
// so when backward runs with create_graph=true the gradient computation is itself recorded and
// can be differentiated again (double backward; GradSigns trains through input gradients).
//
// Gradients are never modified in place: accumulation always makes a new tensor, so a backward
// function may return its incoming gradient unchanged (add does) without aliasing trouble.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace signet {

using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;

struct Node {
  std::string name;             // the op's name, for error messages and profiles
  std::vector<Tensor> inputs;   // the op's inputs, in order (kept alive by the graph)
  BackwardFn backward;          // returns one gradient per input (undefined = zero / not needed)
  int32_t profile_layer = -1;   // the module running when recorded (engine/profiler.h), or -1
};

// Grad mode: ops record nodes only while it is on (the default). Thread-local.
bool grad_mode_enabled();
void set_grad_mode(bool on);

class NoGradGuard {  // evaluation, optimizer steps, in-place parameter updates
 public:
  NoGradGuard() : prev_(grad_mode_enabled()) { set_grad_mode(false); }
  ~NoGradGuard() { set_grad_mode(prev_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

class GradModeGuard {
 public:
  explicit GradModeGuard(bool on) : prev_(grad_mode_enabled()) { set_grad_mode(on); }
  ~GradModeGuard() { set_grad_mode(prev_); }
  GradModeGuard(const GradModeGuard&) = delete;
  GradModeGuard& operator=(const GradModeGuard&) = delete;

 private:
  bool prev_;
};

// True when grad mode is on and any input requires gradients: the op must then record.
bool needs_grad(std::initializer_list<Tensor> inputs);
bool needs_grad(const std::vector<Tensor>& inputs);

// Marks `out` as produced by op `name` from `inputs`, with the given backward function.
void record(Tensor& out, const char* name, std::vector<Tensor> inputs, BackwardFn backward);

// Back-propagates from `root` (grad defaults to 1 for a one-element root) and accumulates into
// the .grad() of every leaf that requires gradients. Tensor::backward calls this.
void run_backward(const Tensor& root, const Tensor& grad, bool create_graph);

// Functional form: d root / d inputs, returned in order, without touching any .grad().
// An input the root does not depend on gets a zero tensor of its shape.
std::vector<Tensor> grad(const Tensor& root, const std::vector<Tensor>& inputs,
                         const Tensor& grad_output = Tensor(), bool create_graph = false);

}  // namespace signet
