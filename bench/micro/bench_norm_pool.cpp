// Batch norm and pooling at the models' activation shapes, through Signet's op entry points.
// These ops are memory-bound, so the counter is GB/s of the minimal traffic (every input read
// once, every output written once), comparable with the machine's memory bandwidth (for
// working sets that fit the caches, with the cache bandwidth).
// Arguments: an index into kActs (activation [N, C, H, H]):
//   0  cifar10-cnn after conv 2, batch 128: 32 @32x32      1  after conv 4: 64 @16x16
//   2  wrn-16-4 block 1, batch 64: 64 @32x32                3  wrn-16-4 block 3: 256 @8x8
//   4  resnet50's stem at 64x64 input, batch 16: 64 @32x32 (its 3x3 stride-2 max pool)
// BM_BatchNormRelu and BM_AddRelu take a second argument: 0 the two ops, 1 the fused one.
// BM_ConvBiasGrad: sum over images and pixels (a convolution's bias gradient).
#include <benchmark/benchmark.h>

#include "engine/ops.h"

using namespace signet;

namespace {
struct Act { int64_t N, C, H; };
constexpr Act kActs[] = {{128, 32, 32}, {128, 64, 16}, {64, 64, 32}, {64, 256, 8}, {16, 64, 32}};

Tensor rand_tensor(const Shape& s, uint64_t seed) {
  Rng rng(seed);
  Tensor t = Tensor::empty(s);
  for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = rng.uniform(-1, 1);
  return t;
}

Shape shape_of(const Act& a) { return {a.N, a.C, a.H, a.H}; }

void finish(benchmark::State& state, const Act& a, double bytes) {
  state.counters["GB/s"] = benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel("N" + std::to_string(a.N) + " " + std::to_string(a.C) + " @" + std::to_string(a.H) + "x" +
                 std::to_string(a.H));
}
}  // namespace

// Batch norm in training mode (batch statistics, running statistics updated).
static void BM_BatchNorm2dForward(benchmark::State& state) {
  const Act a = kActs[state.range(0)];
  Tensor x = rand_tensor(shape_of(a), 5), w = Tensor::ones({a.C}), b = Tensor::zeros({a.C});
  Tensor rm = Tensor::zeros({a.C}), rv = Tensor::ones({a.C});
  for (auto _ : state) benchmark::DoNotOptimize(batch_norm(x, w, b, rm, rv, true).f32());
  finish(state, a, 2.0 * x.numel() * sizeof(float));  // read x, write y
}
BENCHMARK(BM_BatchNorm2dForward)->DenseRange(0, 3)->Unit(benchmark::kMicrosecond)->UseRealTime();

// dx, dweight, dbias through autograd (the forward is untimed).
static void BM_BatchNorm2dBackward(benchmark::State& state) {
  const Act a = kActs[state.range(0)];
  Tensor x = rand_tensor(shape_of(a), 5), w = Tensor::ones({a.C}), b = Tensor::zeros({a.C});
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
  finish(state, a, 3.0 * x.numel() * sizeof(float));  // read g, x; write dx
}
BENCHMARK(BM_BatchNorm2dBackward)->DenseRange(0, 3)->Unit(benchmark::kMicrosecond)->UseRealTime();

// 2x2 max pool, stride 2 (cifar10-cnn after its 32x32 and 16x16 blocks).
static void BM_MaxPool2dForward(benchmark::State& state) {
  const Act a = kActs[state.range(0)];
  Tensor x = rand_tensor(shape_of(a), 7);
  for (auto _ : state) benchmark::DoNotOptimize(max_pool2d_with_indices(x, 2).first.f32());
  // read x; write y (float) and the indices (int64) for a quarter as many elements
  finish(state, a, x.numel() * 4.0 + x.numel() / 4 * 12.0);
}
BENCHMARK(BM_MaxPool2dForward)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond)->UseRealTime();

// 3x3 max pool, stride 2, padding 1 (resnet50's stem).
static void BM_MaxPool2dForward3x3(benchmark::State& state) {
  const Act a = kActs[state.range(0)];
  Tensor x = rand_tensor(shape_of(a), 7);
  for (auto _ : state) benchmark::DoNotOptimize(max_pool2d_with_indices(x, 3, 2, 1).first.f32());
  finish(state, a, x.numel() * 4.0 + x.numel() / 4 * 12.0);
}
BENCHMARK(BM_MaxPool2dForward3x3)->Arg(4)->Unit(benchmark::kMicrosecond)->UseRealTime();

static void BM_MaxPool2dBackward(benchmark::State& state) {
  const Act a = kActs[state.range(0)];
  Tensor x = rand_tensor(shape_of(a), 7);
  auto [y, idx] = max_pool2d_with_indices(x, 2);
  Tensor g = rand_tensor(y.shape(), 8);
  for (auto _ : state) benchmark::DoNotOptimize(max_pool2d_backward(g, idx, x.shape()).f32());
  finish(state, a, y.numel() * 12.0 + x.numel() * 4.0);  // read g, idx; write dx
}
BENCHMARK(BM_MaxPool2dBackward)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond)->UseRealTime();

// 2x2 average pool, stride 2.
static void BM_AvgPool2dForward(benchmark::State& state) {
  const Act a = kActs[state.range(0)];
  Tensor x = rand_tensor(shape_of(a), 9);
  for (auto _ : state) benchmark::DoNotOptimize(avg_pool2d(x, 2).f32());
  finish(state, a, x.numel() * 4.0 * 1.25);  // read x, write a quarter as many
}
BENCHMARK(BM_AvgPool2dForward)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond)->UseRealTime();

static void BM_AvgPool2dBackward(benchmark::State& state) {
  const Act a = kActs[state.range(0)];
  const Shape xs = shape_of(a);
  Tensor g = rand_tensor({a.N, a.C, a.H / 2, a.H / 2}, 10);
  for (auto _ : state) benchmark::DoNotOptimize(avg_pool2d_backward(g, xs, 2).f32());
  finish(state, a, g.numel() * 4.0 * 5);  // read g, write dx (4x as many)
}
BENCHMARK(BM_AvgPool2dBackward)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond)->UseRealTime();

// Global average pool (wrn-16-4's and resnet50's head; wrn-16-4: 256 @8x8, batch 64).
static void BM_GlobalAvgPoolForward(benchmark::State& state) {
  const Act a = kActs[state.range(0)];
  Tensor x = rand_tensor(shape_of(a), 11);
  for (auto _ : state) benchmark::DoNotOptimize(global_avg_pool(x).f32());
  finish(state, a, x.numel() * 4.0);  // read x (the output is tiny)
}
BENCHMARK(BM_GlobalAvgPoolForward)->Arg(3)->Unit(benchmark::kMicrosecond)->UseRealTime();

// The fused neighbours against the two ops they replace (Arg 1 of the pair: fused), training
// mode, forward then backward through autograd: batch norm then ReLU (the WRN's blocks) and a
// residual sum then ReLU (resnet50's bottleneck end). Minimal traffic of the fused op.
static void BM_BatchNormRelu(benchmark::State& state) {
  const Act a = kActs[state.range(0)];
  const bool fused = state.range(1) != 0;
  Tensor x = rand_tensor(shape_of(a), 12).set_requires_grad(true);
  Tensor w = Tensor::ones({a.C}).set_requires_grad(true), b = Tensor::zeros({a.C}).set_requires_grad(true);
  Tensor g = rand_tensor(x.shape(), 13);
  for (auto _ : state) {
    Tensor y = fused ? batch_norm_relu(x, w, b, Tensor(), Tensor(), true)
                     : relu(batch_norm(x, w, b, Tensor(), Tensor(), true));
    benchmark::DoNotOptimize(grad(y, {x, w, b}, g)[0].f32());
  }
  finish(state, a, 5.0 * x.numel() * sizeof(float));  // forward: read x, write y; backward: read g, x, write dx
}
BENCHMARK(BM_BatchNormRelu)->ArgsProduct({{2, 3}, {0, 1}})->Unit(benchmark::kMicrosecond)->UseRealTime();

static void BM_AddRelu(benchmark::State& state) {
  const Act a = kActs[state.range(0)];
  const bool fused = state.range(1) != 0;
  Tensor x = rand_tensor(shape_of(a), 14).set_requires_grad(true), h = rand_tensor(shape_of(a), 15).set_requires_grad(true);
  Tensor g = rand_tensor(x.shape(), 16);
  for (auto _ : state) {
    Tensor y = fused ? add_relu(h, x) : relu(add(h, x));
    benchmark::DoNotOptimize(grad(y, {h, x}, g)[0].f32());
  }
  finish(state, a, 5.0 * x.numel() * sizeof(float));  // forward: read h, x, write y; backward: read g, y, write the mask
}
BENCHMARK(BM_AddRelu)->ArgsProduct({{2, 3}, {0, 1}})->Unit(benchmark::kMicrosecond)->UseRealTime();

// A convolution's bias gradient: the output gradient summed over images and pixels per channel.
static void BM_ConvBiasGrad(benchmark::State& state) {
  const Act a = kActs[state.range(0)];
  Tensor g = rand_tensor(shape_of(a), 9);
  for (auto _ : state) benchmark::DoNotOptimize(sum(g, {0, 2, 3}).f32());
  finish(state, a, 4.0 * g.numel());
}
BENCHMARK(BM_ConvBiasGrad)->DenseRange(0, 3)->Unit(benchmark::kMicrosecond)->UseRealTime();
