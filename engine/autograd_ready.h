// Backward that reports each leaf the moment its gradient is final, so that work on finished
// gradients (data-parallel training's allreduce, models/data_parallel.h) can start while the
// rest of the backward pass still runs.
//
// A leaf's gradient is final once the walk has passed the last node (in the walk's topological
// order) that has it as an input: no later node can add to it. `on_final(leaf)` is called then,
// once per leaf that requires gradients and is reachable from root, after its .grad() holds the
// sum. A leaf no gradient reached is still reported (its .grad() is then as before). The walk
// is otherwise run_backward's (engine/autograd.h): same gradients, same order of additions.
#pragma once
#include <functional>

#include "engine/tensor.h"

namespace signet {

using LeafFinalFn = std::function<void(const Tensor& leaf)>;

// run_backward(root, grad_output, create_graph = false), calling on_final as leaves finish.
void run_backward_reporting(const Tensor& root, const LeafFinalFn& on_final, const Tensor& grad_output = Tensor());

}  // namespace signet
