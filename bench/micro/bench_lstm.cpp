// The LSTM of DeepSigns' IMDB model (batch 64, 500 tokens, 32-dim embeddings, 100 units):
// forward alone, forward + backward (GFLOP/s counts the GEMMs: lstm_train_flops), the fused
// cell kernels, and the whole training step Embedding(5000,32) -> LSTM(100) -> last h ->
// Linear(1) -> BCE -> backward -> SGD (PyTorch 1.13 on the 2-core development machine:
// about 267 ms per step).
#include <benchmark/benchmark.h>

#include "engine/ops.h"
#include "layers/layers.h"
#include "layers/optim.h"
#include "layers/recurrent.h"

using namespace signet;

namespace {
constexpr int64_t kB = 64, kT = 500, kD = 32, kH = 100, kVocab = 5000;

Tensor rand_tensor(const Shape& s, uint64_t seed, float bound = 1.0f) {
  Rng rng(seed);
  Tensor t = Tensor::empty(s);
  for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = rng.uniform(-bound, bound);
  return t;
}

struct LstmParams {
  Tensor x = rand_tensor({kB, kT, kD}, 1);
  Tensor w_ih = rand_tensor({4 * kH, kD}, 2, 0.1f), w_hh = rand_tensor({4 * kH, kH}, 3, 0.1f);
  Tensor b_ih = rand_tensor({4 * kH}, 4, 0.1f), b_hh = rand_tensor({4 * kH}, 5, 0.1f);
};
}  // namespace

static void BM_LstmForward(benchmark::State& state) {
  LstmParams p;
  NoGradGuard ng;
  for (auto _ : state) benchmark::DoNotOptimize(lstm(p.x, p.w_ih, p.w_hh, p.b_ih, p.b_hh).output.f32());
  const double flops = 2.0 * kB * kT * 4 * kH * (kD + kH);
  state.counters["GFLOP/s"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
}
BENCHMARK(BM_LstmForward)->Unit(benchmark::kMillisecond)->UseRealTime();

// Forward + backward through time, gradients for x and all four parameters.
static void BM_LstmForwardBackward(benchmark::State& state) {
  LstmParams p;
  for (Tensor* t : {&p.x, &p.w_ih, &p.w_hh, &p.b_ih, &p.b_hh}) t->set_requires_grad(true);
  const Tensor g = rand_tensor({kB, kT, kH}, 6);
  for (auto _ : state) {
    for (Tensor* t : {&p.x, &p.w_ih, &p.w_hh, &p.b_ih, &p.b_hh}) t->zero_grad();
    lstm(p.x, p.w_ih, p.w_hh, p.b_ih, p.b_hh).output.backward(g);
    benchmark::DoNotOptimize(p.w_hh.grad().f32());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(lstm_train_flops(kB, kT, kD, kH),
                                                 benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
}
BENCHMARK(BM_LstmForwardBackward)->Unit(benchmark::kMillisecond)->UseRealTime();

// One step's gate math (64 x 100 units), reference loops vs the vectorised kernel.
static void BM_LstmCell(benchmark::State& state) {
  const bool fast = state.range(0) != 0;
  const Tensor gates = rand_tensor({kB, 4 * kH}, 7, 3.0f), cp = rand_tensor({kB, kH}, 8);
  Tensor h = Tensor::empty({kB, kH}), c = Tensor::empty({kB, kH}), act = Tensor::empty({kB, 4 * kH});
  for (auto _ : state) {
    (fast ? cpu::lstm_cell_forward_fast : cpu::lstm_cell_forward_ref)(
        kB, kH, {gates.f32(), 4 * kH}, {cp.f32(), kH}, {h.f32(), kH}, {c.f32(), kH}, {act.f32(), 4 * kH});
    benchmark::DoNotOptimize(h.f32());
  }
  state.SetLabel(fast ? "fast" : "ref");
  state.counters["GB/s"] = benchmark::Counter(4.0 * kB * (4 * kH + 4 * kH + 3 * kH),
                                              benchmark::Counter::kIsIterationInvariantRate,
                                              benchmark::Counter::kIs1000);
}
BENCHMARK(BM_LstmCell)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond)->UseRealTime();

// The IMDB model's whole training step (SGD with momentum, as bench/peers/torch_step.py).
static void BM_ImdbTrainStep(benchmark::State& state) {
  Rng rng(9);
  Sequential net("ImdbLstm");
  net.add("embedding", std::make_shared<Embedding>(kVocab, kD, rng));
  net.add("lstm", std::make_shared<LSTM>(kD, kH, rng, /*return_last=*/true));
  net.add("fc", std::make_shared<Linear>(kH, 1, true, rng));
  net.assign_paths();
  Tensor ids = Tensor::empty({kB, kT}, DType::I64);
  for (int64_t i = 0; i < ids.numel(); ++i) ids.i64()[i] = static_cast<int64_t>(rng.below(kVocab));
  Tensor y = Tensor::empty({kB, 1});
  for (int64_t i = 0; i < kB; ++i) y.f32()[i] = static_cast<float>(rng.below(2));
  SgdOptions o;
  o.lr = 0.01f;
  o.momentum = 0.9f;
  SGD opt(net.named_parameters(), o);
  for (auto _ : state) {
    const Tensor loss = bce_with_logits(net(ids), y);
    loss.backward();
    opt.step();
    net.zero_grad();
    benchmark::DoNotOptimize(loss.item());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(lstm_train_flops(kB, kT, kD, kH),
                                                 benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
}
BENCHMARK(BM_ImdbTrainStep)->Unit(benchmark::kMillisecond)->UseRealTime();
