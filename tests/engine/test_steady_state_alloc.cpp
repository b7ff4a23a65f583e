// Steady-state training steps ask the system for no tensor memory: after warm-up steps, the
// CPU caching allocator (engine/cpu_allocator.h) serves every storage request of a step from
// its free lists.
//
// What is counted: every tensor Storage (activations, gradients, optimizer state, op scratch
// such as conv2d's im2col columns, which ops take with Tensor::empty) goes through cpu_alloc;
// `system_allocs` counts the requests the cache could not serve (aligned_alloc calls). These are
// the allocations that cost (page faults on fresh memory, unmapping large blocks on free).
// What is not counted: small heap objects of the graph and bookkeeping (autograd Nodes and
// their std::function captures, TensorImpl and shared_ptr control blocks, shape vectors,
// per-channel std::vectors inside kernels) and OpenBLAS's own buffers (allocated once at its
// first call). They are small and fixed per step; storage is what scales with the model.
//
// A step whose sizes differ from step to step (a buffer grown by one, a shape that depends on
// the step) would miss the cache and fail here.
#include <gtest/gtest.h>

#include "engine/cpu_allocator.h"
#include "engine/ops.h"
#include "layers/optim.h"
#include "models/registry.h"
#include "models/trainer.h"
#include "watermark/deepsigns/wm_regularizer.h"

namespace signet {
namespace {

struct StepRig {
  Model model;
  Tensor x, y;
  std::unique_ptr<Optimizer> opt;
};

StepRig make(const std::string& name, int64_t batch, const Shape& input_shape = {}) {
  Rng rng(3);
  ModelConfig mc = default_model_config(name);
  if (!input_shape.empty()) mc.input_shape = input_shape;
  StepRig s{build_model(name, mc, rng), Tensor(), Tensor(), nullptr};
  Shape xs{batch};
  xs.insert(xs.end(), mc.input_shape.begin(), mc.input_shape.end());
  if (s.model.takes_tokens()) {
    s.x = Tensor::empty(xs, DType::I64);
    for (int64_t i = 0; i < s.x.numel(); ++i) s.x.i64()[i] = static_cast<int64_t>(rng.below(100));
  } else {
    s.x = Tensor::empty(xs);
    for (int64_t i = 0; i < s.x.numel(); ++i) s.x.f32()[i] = static_cast<float>(rng.normal());
  }
  const int64_t classes = s.model.loss == "bce" ? 2 : mc.num_classes;
  s.y = Tensor::empty({batch}, DType::I64);
  for (int64_t i = 0; i < batch; ++i) s.y.i64()[i] = static_cast<int64_t>(rng.below(classes));
  s.opt = make_optimizer("sgd", s.model.net->named_parameters(), 0.01f, 0.9f, 5e-4f, false);
  s.model.net->train(true);
  return s;
}

// The `signet bench` step: zero_grad, forward, loss, backward, SGD momentum. `extra` may add a
// loss term from the taps (the DeepSigns regularizer).
template <class Extra>
void step(StepRig& s, Taps* taps, Extra&& extra) {
  s.opt->zero_grad();
  Tensor loss = model_loss(s.model, s.model(s.x, taps), s.y);
  if (taps) loss = add(loss, extra(*taps));
  loss.backward();
  s.opt->step();
  if (taps) taps->got.clear();  // the activations of this step are released like the graph
}

// Runs `warmup` steps, then `steps` more, and returns the system allocations of the latter.
template <class Extra>
size_t steady_system_allocs(StepRig& s, Taps* taps, Extra&& extra, int warmup = 3, int steps = 4) {
  for (int i = 0; i < warmup; ++i) step(s, taps, extra);
  const CpuAllocatorStats before = cpu_allocator_stats();
  for (int i = 0; i < steps; ++i) step(s, taps, extra);
  const CpuAllocatorStats after = cpu_allocator_stats();
  EXPECT_GT(after.allocations - before.allocations, 0u) << "the steps allocated no tensors at all?";
  EXPECT_EQ(after.system_frees, before.system_frees) << "the cache handed blocks back to the system";
  return after.system_allocs - before.system_allocs;
}

const auto kNoExtra = [](const Taps&) { return Tensor(); };

TEST(SteadyStateAlloc, CountersSeeMissesAndHits) {
  const size_t n = (size_t(3) << 20) + 4096 * 7;  // an unusual size: not in the cache yet
  const CpuAllocatorStats a = cpu_allocator_stats();
  { Tensor t = Tensor::empty({static_cast<int64_t>(n / 4)}); }
  const CpuAllocatorStats b = cpu_allocator_stats();
  { Tensor t = Tensor::empty({static_cast<int64_t>(n / 4)}); }
  const CpuAllocatorStats c = cpu_allocator_stats();
  EXPECT_EQ(b.system_allocs - a.system_allocs, 1u);
  EXPECT_GE(b.system_bytes - a.system_bytes, n);
  EXPECT_EQ(c.system_allocs, b.system_allocs);  // the freed block came back from the cache
  EXPECT_EQ(c.cache_hits - b.cache_hits, 1u);
}

TEST(SteadyStateAlloc, MnistMlpStepsAllocateNoNewStorage) {
  StepRig s = make("mnist-mlp", 16);
  EXPECT_EQ(steady_system_allocs(s, nullptr, kNoExtra), 0u);
}

TEST(SteadyStateAlloc, Cifar10CnnStepsAllocateNoNewStorage) {
  StepRig s = make("cifar10-cnn", 4);
  EXPECT_EQ(steady_system_allocs(s, nullptr, kNoExtra), 0u);
}

// Batch norm, residual additions (gradient accumulation in backward) and global pooling.
TEST(SteadyStateAlloc, Wrn16x4StepsAllocateNoNewStorage) {
  StepRig s = make("wrn-16-4", 2);
  EXPECT_EQ(steady_system_allocs(s, nullptr, kNoExtra), 0u);
}

TEST(SteadyStateAlloc, Resnet50StepsAllocateNoNewStorage) {
  StepRig s = make("resnet50", 2, Shape{3, 32, 32});
  EXPECT_EQ(steady_system_allocs(s, nullptr, kNoExtra, 2, 2), 0u);
}

TEST(SteadyStateAlloc, ImdbLstmStepsAllocateNoNewStorage) {
  StepRig s = make("imdb-lstm", 4, Shape{12});
  EXPECT_EQ(steady_system_allocs(s, nullptr, kNoExtra), 0u);
}

// The DeepSigns embedding step: the regularizer on relu2 with centres mu trained alongside.
TEST(SteadyStateAlloc, MnistMlpWithDeepSignsRegularizerAllocatesNoNewStorage) {
  StepRig s = make("mnist-mlp", 16);
  Rng rng(5);
  Tensor mu = Tensor::zeros({10, 512});
  mu.set_requires_grad(true);
  Tensor A = Tensor::empty({512, 32}), b = Tensor::empty({1, 32});
  for (int64_t i = 0; i < A.numel(); ++i) A.f32()[i] = static_cast<float>(rng.normal());
  for (int64_t i = 0; i < b.numel(); ++i) b.f32()[i] = static_cast<float>(rng.below(2));
  Taps taps;
  taps.wanted = {"relu2"};
  auto reg = [&](const Taps& t) {
    return WM_activity_regularizer(t.require("relu2"), s.y, mu, {3}, A, b, 0.01f, 0.01f, 1.0f);
  };
  EXPECT_EQ(steady_system_allocs(s, &taps, reg), 0u);
}

}  // namespace
}  // namespace signet
