#include "engine/autograd.h"

#include <unordered_map>
#include <unordered_set>

#include "engine/autograd_ready.h"
#include "engine/ops/binary.h"
#include "engine/profiler.h"

namespace signet {

static thread_local bool g_grad_mode = true;
bool grad_mode_enabled() { return g_grad_mode; }
void set_grad_mode(bool on) { g_grad_mode = on; }

bool needs_grad(std::initializer_list<Tensor> inputs) {
  if (!g_grad_mode) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!g_grad_mode) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

namespace {
// Releasing a graph recursively (node -> input tensor -> its node -> ...) takes stack in
// proportion to its depth: a 20,000-step chain overflowed it under AddressSanitizer. This
// deleter unlinks it iteratively instead: an input tensor whose node would die with it hands
// that node's inputs over first, so every node is destroyed with no inputs left.
void release_node(Node* node) {
  std::vector<Tensor> pending = std::move(node->inputs);
  delete node;
  while (!pending.empty()) {
    Tensor t = std::move(pending.back());
    pending.pop_back();
    const std::shared_ptr<TensorImpl>& impl = t.impl_ptr();
    if (impl && impl.use_count() == 1 && impl->grad_fn && impl->grad_fn.use_count() == 1) {
      for (Tensor& in : impl->grad_fn->inputs) pending.push_back(std::move(in));
      impl->grad_fn->inputs.clear();
    }
  }
}
}  // namespace

void record(Tensor& out, const char* name, std::vector<Tensor> inputs, BackwardFn backward) {
  std::shared_ptr<Node> node(new Node(), release_node);
  node->name = name;
  node->inputs = std::move(inputs);
  node->backward = std::move(backward);
  node->profile_layer = profiler::current_layer();
  out.impl()->requires_grad = true;
  out.impl()->grad_fn = std::move(node);
}

namespace {

// Nodes reachable from root, ordered so that every node comes before the nodes of its inputs.
// Iterative DFS: an LSTM unrolled over 500 steps makes graphs far deeper than the C++ stack.
std::vector<Node*> topological_order(Node* root) {
  std::vector<Node*> post;  // post-order: inputs before users
  std::unordered_set<Node*> seen{root};
  std::vector<std::pair<Node*, size_t>> stack{{root, 0}};
  while (!stack.empty()) {
    auto& [node, next] = stack.back();
    if (next < node->inputs.size()) {
      const Tensor& in = node->inputs[next++];
      if (in.defined() && in.grad_fn()) {
        Node* child = in.grad_fn().get();
        if (seen.insert(child).second) stack.push_back({child, 0});
      }
    } else {
      post.push_back(node);
      stack.pop_back();
    }
  }
  return std::vector<Node*>(post.rbegin(), post.rend());
}

Tensor accumulate(const Tensor& a, const Tensor& b) {
  if (!a.defined()) return b;
  return add(a, b);
}

void check_grad_shape(const Tensor& g, const Tensor& input, const Node& node, size_t i) {
  SIGNET_CHECK(g.shape() == input.shape(),
               "internal: backward of '{}' returned gradient {} for input {} of shape {}",
               node.name, shape_str(g.shape()), i, shape_str(input.shape()));
}

// For each node of `order`, the leaves (requiring gradients) it is the last node to use: their
// gradients are final once that node is done.
std::vector<std::vector<Tensor>> leaves_final_after(const std::vector<Node*>& order) {
  std::unordered_map<const TensorImpl*, std::pair<size_t, Tensor>> last;
  for (size_t k = 0; k < order.size(); ++k)
    for (const Tensor& in : order[k]->inputs)
      if (in.defined() && in.requires_grad() && !in.grad_fn()) last[in.impl()] = {k, in};
  std::vector<std::vector<Tensor>> out(order.size());
  for (auto& [impl, use] : last) out[use.first].push_back(std::move(use.second));
  return out;
}

// The shared walk. For each leaf (or each tensor in `wanted`, matched by identity) the final
// gradient is handed to `deliver`; with on_final, each leaf is reported once no node is left that
// could add to it.
template <class Deliver>
void walk(const Tensor& root, const Tensor& grad_output, bool create_graph,
          const std::unordered_set<const TensorImpl*>* wanted, Deliver&& deliver,
          const LeafFinalFn* on_final = nullptr) {
  SIGNET_CHECK(root.requires_grad(), "backward: the tensor does not require gradients "
                                     "(no parameter or input with requires_grad reached it)");
  Tensor g0 = grad_output;
  if (!g0.defined()) {
    SIGNET_CHECK(root.numel() == 1,
                 "backward: a gradient must be given for a non-scalar output of shape {}",
                 shape_str(root.shape()));
    g0 = Tensor::full(root.shape(), 1.0f, root.device());
  }
  SIGNET_CHECK(g0.shape() == root.shape(), "backward: gradient shape {} for output shape {}",
               shape_str(g0.shape()), shape_str(root.shape()));
  GradModeGuard mode(create_graph);
  profiler::BackwardPassScope profile_pass;
  if (!root.grad_fn()) {  // the root is itself a leaf
    deliver(root, g0);
    if (on_final) (*on_final)(root);
    return;
  }
  if (wanted && wanted->count(root.impl())) deliver(root, g0);
  std::unordered_map<Node*, Tensor> pending;
  pending[root.grad_fn().get()] = g0;
  const std::vector<Node*> order = topological_order(root.grad_fn().get());
  std::vector<std::vector<Tensor>> final_after;
  if (on_final) final_after = leaves_final_after(order);
  for (size_t k = 0; k < order.size(); ++k) {
    Node* node = order[k];
    auto it = pending.find(node);
    if (it != pending.end()) {  // else no gradient flows through this node
      Tensor g = std::move(it->second);
      pending.erase(it);
      std::vector<Tensor> grads;
      {
        profiler::NodeScope profile_node(node->name, node->profile_layer);
        CurrentOp current(node->name.c_str());
        grads = node->backward(g);
      }
      SIGNET_CHECK(grads.size() == node->inputs.size(),
                   "internal: backward of '{}' returned {} gradients for {} inputs", node->name,
                   grads.size(), node->inputs.size());
      for (size_t i = 0; i < grads.size(); ++i) {
        const Tensor& in = node->inputs[i];
        if (!grads[i].defined() || !in.defined() || !in.requires_grad()) continue;
        check_grad_shape(grads[i], in, *node, i);
        if (in.grad_fn()) {
          Tensor& slot = pending[in.grad_fn().get()];
          slot = accumulate(slot, grads[i]);
          if (wanted && wanted->count(in.impl())) deliver(in, grads[i]);
        } else {
          deliver(in, grads[i]);
        }
      }
    }
    if (on_final)
      for (const Tensor& leaf : final_after[k]) (*on_final)(leaf);
  }
}

}  // namespace

namespace {
void store_in_leaves(const Tensor& root, const Tensor& grad_output, bool create_graph, const LeafFinalFn* on_final) {
  walk(
      root, grad_output, create_graph, nullptr,
      [&](const Tensor& leaf, const Tensor& g) {
        if (leaf.grad_fn()) return;
        Tensor prev = leaf.grad();
        // Without create_graph the stored gradient must not carry history.
        Tensor sum = accumulate(prev, g);
        leaf.impl()->grad = (create_graph ? sum : sum.detach()).impl_ptr();
      },
      on_final);
}
}  // namespace

void run_backward(const Tensor& root, const Tensor& grad_output, bool create_graph) {
  store_in_leaves(root, grad_output, create_graph, nullptr);
}

void run_backward_reporting(const Tensor& root, const LeafFinalFn& on_final, const Tensor& grad_output) {
  store_in_leaves(root, grad_output, false, &on_final);
}

std::vector<Tensor> grad(const Tensor& root, const std::vector<Tensor>& inputs,
                         const Tensor& grad_output, bool create_graph) {
  std::unordered_set<const TensorImpl*> wanted;
  for (const Tensor& t : inputs) wanted.insert(t.impl());
  std::unordered_map<const TensorImpl*, Tensor> got;
  walk(root, grad_output, create_graph, &wanted, [&](const Tensor& t, const Tensor& g) {
    if (!wanted.count(t.impl())) return;
    GradModeGuard mode(create_graph);
    got[t.impl()] = accumulate(got[t.impl()], g);
  });
  std::vector<Tensor> out;
  for (const Tensor& t : inputs) {
    auto it = got.find(t.impl());
    out.push_back(it != got.end() ? (create_graph ? it->second : it->second.detach())
                                  : Tensor::zeros(t.shape(), DType::F32, t.device()));
  }
  return out;
}

}  // namespace signet
