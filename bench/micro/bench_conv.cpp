// Convolution, batch norm and pooling at the CIFAR CNN's layer shapes (batch 128, 3x3 kernels,
// padding 1), through Signet's op entry points.
//   conv: GFLOP/s = 2 N O Ho Wo C kh kw per call (forward; each backward op costs the same).
//   batch norm / max pool: GB/s of the minimal traffic (every input read once, every output
//   written once), so the number is comparable with the machine's memory bandwidth.
// Arguments: the layer index 0..3 = 3->32 @32x32, 32->32 @32x32, 32->64 @16x16, 64->64 @16x16.
#include <benchmark/benchmark.h>

#include "engine/ops.h"

using namespace signet;

namespace {
struct Layer { int64_t C, O, H; };
constexpr Layer kCifar[] = {{3, 32, 32}, {32, 32, 32}, {32, 64, 16}, {64, 64, 16}};
constexpr int64_t kBatch = 128;

Tensor rand_tensor(const Shape& s, uint64_t seed) {
  Rng rng(seed);
  Tensor t = Tensor::empty(s);
  for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = rng.uniform(-1, 1);
  return t;
}

double conv_flops(const Layer& l) { return 2.0 * kBatch * l.O * l.H * l.H * l.C * 9; }

void set_label(benchmark::State& state, const Layer& l) {
  state.SetLabel(std::to_string(l.C) + "->" + std::to_string(l.O) + " @" + std::to_string(l.H) + "x" +
                 std::to_string(l.H));
}

benchmark::Counter rate(double per_iteration) {
  return benchmark::Counter(per_iteration, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}
}  // namespace

static void BM_Conv2dForward(benchmark::State& state) {
  const Layer l = kCifar[state.range(0)];
  Tensor x = rand_tensor({kBatch, l.C, l.H, l.H}, 1), w = rand_tensor({l.O, l.C, 3, 3}, 2), b = rand_tensor({l.O}, 3);
  for (auto _ : state) benchmark::DoNotOptimize(conv2d(x, w, b, 1, 1).f32());
  state.counters["GFLOP/s"] = rate(conv_flops(l) * 1e-9);
  set_label(state, l);
}
BENCHMARK(BM_Conv2dForward)->DenseRange(0, 3)->Unit(benchmark::kMillisecond)->UseRealTime();

static void BM_Conv2dBackwardInput(benchmark::State& state) {
  const Layer l = kCifar[state.range(0)];
  Tensor g = rand_tensor({kBatch, l.O, l.H, l.H}, 4), w = rand_tensor({l.O, l.C, 3, 3}, 2);
  const Shape xs{kBatch, l.C, l.H, l.H};
  for (auto _ : state) benchmark::DoNotOptimize(conv2d_backward_input(g, w, xs, 1, 1, 1, 1).f32());
  state.counters["GFLOP/s"] = rate(conv_flops(l) * 1e-9);
  set_label(state, l);
}
BENCHMARK(BM_Conv2dBackwardInput)->DenseRange(0, 3)->Unit(benchmark::kMillisecond)->UseRealTime();

static void BM_Conv2dBackwardWeight(benchmark::State& state) {
  const Layer l = kCifar[state.range(0)];
  Tensor g = rand_tensor({kBatch, l.O, l.H, l.H}, 4), x = rand_tensor({kBatch, l.C, l.H, l.H}, 1);
  const Shape ws{l.O, l.C, 3, 3};
  for (auto _ : state) benchmark::DoNotOptimize(conv2d_backward_weight(g, x, ws, 1, 1, 1, 1).f32());
  state.counters["GFLOP/s"] = rate(conv_flops(l) * 1e-9);
  set_label(state, l);
}
BENCHMARK(BM_Conv2dBackwardWeight)->DenseRange(0, 3)->Unit(benchmark::kMillisecond)->UseRealTime();

// The whole training-step backward of one layer through autograd: dx, dw and dbias.
static void BM_Conv2dBackwardAutograd(benchmark::State& state) {
  const Layer l = kCifar[state.range(0)];
  Tensor x = rand_tensor({kBatch, l.C, l.H, l.H}, 1), w = rand_tensor({l.O, l.C, 3, 3}, 2), b = rand_tensor({l.O}, 3);
  x.set_requires_grad(true);
  w.set_requires_grad(true);
  b.set_requires_grad(true);
  Tensor g = rand_tensor({kBatch, l.O, l.H, l.H}, 4);
  for (auto _ : state) {
    state.PauseTiming();
    Tensor y = conv2d(x, w, b, 1, 1);
    state.ResumeTiming();
    const auto grads = grad(y, {x, w, b}, g);
    benchmark::DoNotOptimize(grads[0].f32());
  }
  state.counters["GFLOP/s"] = rate(2 * conv_flops(l) * 1e-9);
  set_label(state, l);
}
BENCHMARK(BM_Conv2dBackwardAutograd)->DenseRange(0, 3)->Unit(benchmark::kMillisecond)->UseRealTime();

// Batch norm (training mode) on a conv output: [128, C, H, H].
static void BM_BatchNorm2dForward(benchmark::State& state) {
  const Layer l = kCifar[state.range(0)];
  Tensor x = rand_tensor({kBatch, l.O, l.H, l.H}, 5), w = Tensor::ones({l.O}), b = Tensor::zeros({l.O});
  Tensor rm = Tensor::zeros({l.O}), rv = Tensor::ones({l.O});
  for (auto _ : state) benchmark::DoNotOptimize(batch_norm(x, w, b, rm, rv, true).f32());
  state.counters["GB/s"] = rate(2.0 * x.numel() * sizeof(float) * 1e-9);  // read x, write y
  set_label(state, l);
}
BENCHMARK(BM_BatchNorm2dForward)->Arg(1)->Arg(3)->Unit(benchmark::kMicrosecond)->UseRealTime();

static void BM_BatchNorm2dBackward(benchmark::State& state) {
  const Layer l = kCifar[state.range(0)];
  Tensor x = rand_tensor({kBatch, l.O, l.H, l.H}, 5), w = Tensor::ones({l.O}), b = Tensor::zeros({l.O});
  x.set_requires_grad(true);
  w.set_requires_grad(true);
  b.set_requires_grad(true);
  Tensor g = rand_tensor(x.shape(), 6);
  for (auto _ : state) {
    state.PauseTiming();
    Tensor y = batch_norm(x, w, b, Tensor(), Tensor(), true);
    state.ResumeTiming();
    const auto grads = grad(y, {x, w, b}, g);
    benchmark::DoNotOptimize(grads[0].f32());
  }
  state.counters["GB/s"] = rate(3.0 * x.numel() * sizeof(float) * 1e-9);  // read g, x; write dx
  set_label(state, l);
}
BENCHMARK(BM_BatchNorm2dBackward)->Arg(1)->Arg(3)->Unit(benchmark::kMicrosecond)->UseRealTime();

// 2x2 max pool, stride 2, after the 32x32 and 16x16 blocks.
static void BM_MaxPool2dForward(benchmark::State& state) {
  const Layer l = kCifar[state.range(0)];
  Tensor x = rand_tensor({kBatch, l.O, l.H, l.H}, 7);
  for (auto _ : state) benchmark::DoNotOptimize(max_pool2d_with_indices(x, 2).first.f32());
  // read x; write y (float) and the indices (int64) for a quarter as many elements
  state.counters["GB/s"] = rate((x.numel() * 4.0 + x.numel() / 4 * 12.0) * 1e-9);
  set_label(state, l);
}
BENCHMARK(BM_MaxPool2dForward)->Arg(1)->Arg(3)->Unit(benchmark::kMicrosecond)->UseRealTime();

static void BM_MaxPool2dBackward(benchmark::State& state) {
  const Layer l = kCifar[state.range(0)];
  Tensor x = rand_tensor({kBatch, l.O, l.H, l.H}, 7);
  auto [y, idx] = max_pool2d_with_indices(x, 2);
  Tensor g = rand_tensor(y.shape(), 8);
  for (auto _ : state) benchmark::DoNotOptimize(max_pool2d_backward(g, idx, x.shape()).f32());
  state.counters["GB/s"] = rate((y.numel() * 12.0 + x.numel() * 4.0) * 1e-9);  // read g, idx; write dx
  set_label(state, l);
}
BENCHMARK(BM_MaxPool2dBackward)->Arg(1)->Arg(3)->Unit(benchmark::kMicrosecond)->UseRealTime();
