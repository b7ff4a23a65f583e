// Convolution at the paper models' layer shapes through Signet's op entry points:
//   GFLOP/s = 2 N O Ho Wo C kh kw per call (forward; each backward op costs the same), and
//   roof_pct = that rate as a percentage of the machine's measured FMA roof (bench_roof.cpp).
// Issue 8's target: conv forward of the CNN's layers at >= 70% of the roof.
// Arguments: a layer index into kLayers (3x3 kernels with padding 1 unless said):
//   0..3  cifar10-cnn at batch 128: 3->32 @32x32, 32->32 @32x32, 32->64 @16x16, 64->64 @16x16
//   4..6  wrn-16-4's bulk at batch 64: 64->64 @32x32, 128->128 @16x16, 256->256 @8x8
//   7     wrn-16-4's stride-2 block entry at batch 64: 64->128 @32x32 -> 16x16
//   8, 9  resnet50's 3x3 convs of layer3 and layer4 at 64x64 input, batch 16: 256->256 @4x4,
//         512->512 @2x2 (outputs of 16 and 4 pixels: many images per GEMM)
//   10..12 resnet50's 1x1 convs there: layer3 conv3 256->1024 @4x4, layer4.0 conv1
//         1024->512 @4x4, layer4.0 downsample 1024->2048 @4x4 stride 2
//   13..16 resnet50 at batch 1 (memory-bound: each weight serves a few pixels): the 3x3 convs
//         256->256 @4x4 and 512->512 @2x2, layer4's 1x1 convs 512->2048 and 2048->512 @2x2
//   17, 18 resnet50's layer1 1x1 convs at 64x64 input, batch 16: 64->256 and 256->64 @16x16
//   19    resnet50's layer4 entry 3x3 at 64x64 input, batch 16: 512->512 @4x4 stride 2 (2x2 out)
//   20, 21 resnet50's layer4 1x1 convs at 64x64 input, batch 16: 2048->512 and 512->2048 @2x2
//   22..25 wrn-16-4 at batch 16: 64->64 @32x32, 128->128 @16x16, 256->256 @8x8, and the stride-2
//         entry 128->256 @16x16 -> 8x8
// (batch norm and pooling: bench_norm_pool.cpp)
#include <benchmark/benchmark.h>

#include "bench/micro/roof.h"
#include "engine/ops.h"

using namespace signet;

namespace {
struct Layer { int64_t N, C, O, H, stride, k = 3; };
constexpr Layer kLayers[] = {{128, 3, 32, 32, 1},  {128, 32, 32, 32, 1}, {128, 32, 64, 16, 1},
                             {128, 64, 64, 16, 1}, {64, 64, 64, 32, 1},  {64, 128, 128, 16, 1},
                             {64, 256, 256, 8, 1}, {64, 64, 128, 32, 2}, {16, 256, 256, 4, 1},
                             {16, 512, 512, 2, 1}, {16, 256, 1024, 4, 1, 1}, {16, 1024, 512, 4, 1, 1},
                             {16, 1024, 2048, 4, 2, 1}, {1, 256, 256, 4, 1},
                             {1, 512, 512, 2, 1},      {1, 512, 2048, 2, 1, 1}, {1, 2048, 512, 2, 1, 1},
                             {16, 64, 256, 16, 1, 1},  {16, 256, 64, 16, 1, 1}, {16, 512, 512, 4, 2},
                             {16, 2048, 512, 2, 1, 1}, {16, 512, 2048, 2, 1, 1},
                             {16, 64, 64, 32, 1},      {16, 128, 128, 16, 1},   {16, 256, 256, 8, 1},
                             {16, 128, 256, 16, 2}};

Tensor rand_tensor(const Shape& s, uint64_t seed) {
  Rng rng(seed);
  Tensor t = Tensor::empty(s);
  for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = rng.uniform(-1, 1);
  return t;
}

int64_t pad(const Layer& l) { return (l.k - 1) / 2; }
int64_t out_size(const Layer& l) { return (l.H + 2 * pad(l) - l.k) / l.stride + 1; }
double conv_flops(const Layer& l) { return 2.0 * l.N * l.O * out_size(l) * out_size(l) * l.C * l.k * l.k; }
Shape x_shape(const Layer& l) { return {l.N, l.C, l.H, l.H}; }
Shape y_shape(const Layer& l) { return {l.N, l.O, out_size(l), out_size(l)}; }

void finish(benchmark::State& state, const Layer& l, double flops) {
  state.counters["GFLOP/s"] = bench::gflops(flops);
  state.counters["roof_pct"] = bench::roof_pct(flops);
  state.SetLabel("N" + std::to_string(l.N) + " " + std::to_string(l.C) + "->" + std::to_string(l.O) + " @" +
                 std::to_string(l.H) + "x" + std::to_string(l.H) + (l.stride > 1 ? " s2" : "") +
                 (l.k == 1 ? " 1x1" : ""));
}
}  // namespace

static void BM_Conv2dForward(benchmark::State& state) {
  const Layer l = kLayers[state.range(0)];
  Tensor x = rand_tensor(x_shape(l), 1), w = rand_tensor({l.O, l.C, l.k, l.k}, 2), b = rand_tensor({l.O}, 3);
  for (auto _ : state) benchmark::DoNotOptimize(conv2d(x, w, b, l.stride, pad(l)).f32());
  finish(state, l, conv_flops(l));
}
BENCHMARK(BM_Conv2dForward)->DenseRange(0, 25)->Unit(benchmark::kMillisecond)->UseRealTime();

static void BM_Conv2dBackwardInput(benchmark::State& state) {
  const Layer l = kLayers[state.range(0)];
  Tensor g = rand_tensor(y_shape(l), 4), w = rand_tensor({l.O, l.C, l.k, l.k}, 2);
  for (auto _ : state)
    benchmark::DoNotOptimize(conv2d_backward_input(g, w, x_shape(l), l.stride, l.stride, pad(l), pad(l)).f32());
  finish(state, l, conv_flops(l));
}
BENCHMARK(BM_Conv2dBackwardInput)->DenseRange(0, 25)->Unit(benchmark::kMillisecond)->UseRealTime();

static void BM_Conv2dBackwardWeight(benchmark::State& state) {
  const Layer l = kLayers[state.range(0)];
  Tensor g = rand_tensor(y_shape(l), 4), x = rand_tensor(x_shape(l), 1);
  const Shape ws{l.O, l.C, l.k, l.k};
  for (auto _ : state) benchmark::DoNotOptimize(conv2d_backward_weight(g, x, ws, l.stride, l.stride, pad(l), pad(l)).f32());
  finish(state, l, conv_flops(l));
}
BENCHMARK(BM_Conv2dBackwardWeight)->DenseRange(0, 25)->Unit(benchmark::kMillisecond)->UseRealTime();

// The whole training-step backward of one layer through autograd: dx, dw and dbias.
static void BM_Conv2dBackwardAutograd(benchmark::State& state) {
  const Layer l = kLayers[state.range(0)];
  Tensor x = rand_tensor(x_shape(l), 1), w = rand_tensor({l.O, l.C, l.k, l.k}, 2), b = rand_tensor({l.O}, 3);
  x.set_requires_grad(true);
  w.set_requires_grad(true);
  b.set_requires_grad(true);
  Tensor g = rand_tensor(y_shape(l), 4);
  for (auto _ : state) {
    state.PauseTiming();
    Tensor y = conv2d(x, w, b, l.stride, pad(l));
    state.ResumeTiming();
    const auto grads = grad(y, {x, w, b}, g);
    benchmark::DoNotOptimize(grads[0].f32());
  }
  finish(state, l, 2 * conv_flops(l));
}
BENCHMARK(BM_Conv2dBackwardAutograd)->DenseRange(0, 3)->Unit(benchmark::kMillisecond)->UseRealTime();
