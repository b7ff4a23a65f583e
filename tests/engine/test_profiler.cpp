// Profile mode (engine/profiler.h): off by default, and when on it counts a tiny model's
// forward ops, backward nodes and layers exactly, attributes backward nodes to the layer that
// recorded them, does not count ops nested in other ops twice, and ignores other threads.
#include <gtest/gtest.h>

#include <memory>
#include <thread>

#include "engine/ops.h"
#include "engine/profiler.h"
#include "layers/layers.h"

namespace signet {
namespace {

const profiler::Row* find(const std::vector<profiler::Row>& rows, const std::string& name) {
  for (const auto& r : rows)
    if (r.name == name) return &r;
  return nullptr;
}

// fc1 (4->8) -> relu -> fc2 (8->3); the loss is applied outside any module.
std::shared_ptr<Sequential> tiny_mlp() {
  Rng rng(7);
  auto net = std::make_shared<Sequential>("TinyMLP");
  net->add("fc1", std::make_shared<Linear>(4, 8, true, rng));
  net->add("relu", std::make_shared<ReLU>());
  net->add("fc2", std::make_shared<Linear>(8, 3, true, rng));
  net->assign_paths();
  return net;
}

void train_step(Sequential& net, const Tensor& x, const Tensor& y) {
  net.zero_grad();  // grads reset: backward then makes no accumulation `add`
  Tensor loss = cross_entropy(net(x), y);
  loss.backward();
}

struct Batch {
  Tensor x = Tensor::from_vector({0.5f, -1, 2, 0.1f, 1, 1, -0.3f, 0.7f}, {2, 4});
  Tensor y = Tensor::from_vector_i64({2, 0}, {2});
};

TEST(Profiler, DisabledByDefaultAndRecordsNothing) {
  EXPECT_FALSE(profiler::enabled());
  profiler::reset();
  auto net = tiny_mlp();
  Batch b;
  train_step(*net, b.x, b.y);
  Tensor out = (*net)(b.x);
  ASSERT_TRUE(out.grad_fn());
  EXPECT_EQ(out.grad_fn()->profile_layer, -1);  // no layer tagging while off
  const profiler::Profile p = profiler::snapshot();
  EXPECT_TRUE(p.ops.empty());
  EXPECT_TRUE(p.layers.empty());
  EXPECT_EQ(p.steps, 0);
}

TEST(Profiler, CountsOpsNodesAndLayersOfATinyModel) {
  auto net = tiny_mlp();
  Batch b;
  constexpr int kSteps = 3;
  profiler::enable();
  for (int s = 0; s < kSteps; ++s) {
    profiler::step_begin();
    train_step(*net, b.x, b.y);
    profiler::step_end();
  }
  profiler::disable();
  const profiler::Profile p = profiler::snapshot();
  EXPECT_FALSE(profiler::enabled());
  EXPECT_EQ(p.steps, kSteps);
  EXPECT_GT(p.total_ms, 0.0);

  const profiler::Row* lin = find(p.ops, "linear");
  const profiler::Row* relu = find(p.ops, "relu");
  const profiler::Row* ce = find(p.ops, "cross_entropy");
  ASSERT_TRUE(lin && relu && ce);
  EXPECT_EQ(lin->forward_calls, 2 * kSteps);
  EXPECT_EQ(lin->backward_calls, 2 * kSteps);  // one node per linear call
  EXPECT_EQ(relu->forward_calls, kSteps);
  EXPECT_EQ(relu->backward_calls, kSteps);
  EXPECT_EQ(ce->forward_calls, kSteps);
  EXPECT_EQ(ce->backward_calls, kSteps);
  EXPECT_GT(lin->forward_ms, 0.0);
  EXPECT_GT(lin->backward_ms, 0.0);
  // linear's backward calls matmul and sum, relu's calls relu_grad: nested in a node, they are
  // part of its time and must not appear as calls of their own.
  for (const char* nested : {"matmul", "sum", "relu_grad", "add"}) {
    const profiler::Row* r = find(p.ops, nested);
    EXPECT_TRUE(r == nullptr || (r->forward_calls == 0 && r->backward_calls == 0)) << nested;
  }
  double in_ops = 0;
  for (const auto& r : p.ops) in_ops += r.forward_ms + r.backward_ms;
  EXPECT_LE(in_ops, p.total_ms);

  ASSERT_EQ(p.layers.size(), 4u);  // the model, fc1, relu, fc2, in first-call order
  EXPECT_EQ(p.layers[0].name, "");
  EXPECT_EQ(p.layers[0].type, "TinyMLP");
  EXPECT_EQ(p.layers[0].depth, 0);
  EXPECT_EQ(p.layers[1].name, "fc1");
  EXPECT_EQ(p.layers[1].type, "Linear");
  EXPECT_EQ(p.layers[1].depth, 1);
  EXPECT_EQ(p.layers[2].name, "relu");
  EXPECT_EQ(p.layers[3].name, "fc2");
  for (const auto& l : p.layers) EXPECT_EQ(l.forward_calls, kSteps) << l.name;
  // Backward nodes per layer: one each for fc1, relu, fc2; the model's row holds all three;
  // the loss's node was recorded outside any module and belongs to none.
  EXPECT_EQ(p.layers[1].backward_calls, kSteps);
  EXPECT_EQ(p.layers[2].backward_calls, kSteps);
  EXPECT_EQ(p.layers[3].backward_calls, kSteps);
  EXPECT_EQ(p.layers[0].backward_calls, 3 * kSteps);
  EXPECT_GE(p.layers[0].forward_ms, p.layers[1].forward_ms + p.layers[3].forward_ms);
  EXPECT_GE(p.layers[0].backward_ms, p.layers[1].backward_ms + p.layers[3].backward_ms);

  const std::string table = profiler::format_profile(p);
  EXPECT_NE(table.find("average of 3 steps"), std::string::npos) << table;
  EXPECT_NE(table.find("cross_entropy"), std::string::npos) << table;
  EXPECT_NE(table.find("  fc1 (Linear)"), std::string::npos) << table;
  EXPECT_NE(table.find("(model) (TinyMLP)"), std::string::npos) << table;
}

TEST(Profiler, OnceStepsAreMarkedOnlyStepsAreCounted) {
  auto net = tiny_mlp();
  Batch b;
  profiler::enable();
  train_step(*net, b.x, b.y);  // before any step is marked: counted
  profiler::step_begin();
  train_step(*net, b.x, b.y);
  profiler::step_end();
  {
    NoGradGuard ng;
    (*net)(b.x);  // e.g. an evaluation pass between steps: not counted
  }
  profiler::disable();
  const profiler::Profile p = profiler::snapshot();
  const profiler::Row* lin = find(p.ops, "linear");
  ASSERT_TRUE(lin);
  EXPECT_EQ(lin->forward_calls, 4);
  EXPECT_EQ(lin->backward_calls, 4);
  ASSERT_FALSE(p.layers.empty());
  EXPECT_EQ(p.layers[0].forward_calls, 2);
  EXPECT_EQ(p.steps, 1);
}

TEST(Profiler, OnlyTheEnablingThreadIsCounted) {
  auto net = tiny_mlp();
  Batch b;
  profiler::enable();
  std::thread other([&] { train_step(*net, b.x, b.y); });
  other.join();
  profiler::disable();
  const profiler::Profile p = profiler::snapshot();
  EXPECT_TRUE(p.ops.empty());
  EXPECT_TRUE(p.layers.empty());
}

TEST(Profiler, EnableResetsTheTables) {
  auto net = tiny_mlp();
  Batch b;
  profiler::enable();
  train_step(*net, b.x, b.y);
  profiler::enable();
  train_step(*net, b.x, b.y);
  profiler::disable();
  // Keep the snapshot alive: find() returns a pointer into it.
  const profiler::Profile p = profiler::snapshot();
  const profiler::Row* lin = find(p.ops, "linear");
  ASSERT_TRUE(lin);
  EXPECT_EQ(lin->forward_calls, 2);
}

}  // namespace
}  // namespace signet
