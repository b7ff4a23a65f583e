// Data-parallel training with the parameters on a GPU, without a GPU: DataParallel's device path
// (buckets packed by the device's ops, summed through Communicator::allreduce_sum_device's host
// staging, unpacked into the gradients) on the emulated cuda:0, against its CPU path, with
// stand-ins for the other ranks. NCCL itself needs real GPUs: tests/cuda/test_nccl.cpp.
#include <gtest/gtest.h>

#include "engine/dist/communicator.h"
#include "models/data_parallel.h"
#include "models/registry.h"
#include "models/trainer.h"
#include "tests/cuda_sim/compare.h"
#include "tests/cuda_sim/sim_device.h"
#include "tests/engine/gradcheck.h"
#include "tests/watermark/banded_dataset.h"

namespace signet::testing {
namespace {

// Rank 0 of 2; the other rank's contribution to every sum is `peer` (0 with mirror: it adds what
// this rank has, as a rank with the same data would).
class StandInComm final : public dist::Communicator {
 public:
  explicit StandInComm(float peer, bool mirror = false) : peer_(peer), mirror_(mirror) {}
  int rank() const override { return 0; }
  int size() const override { return 2; }
  std::string backend() const override { return "test"; }
  void allreduce_sum(float* d, int64_t n) override {
    host_calls.push_back(n);
    for (int64_t i = 0; i < n; ++i) d[i] = mirror_ ? 2 * d[i] : d[i] + peer_;
  }
  void allreduce_sum(double* d, int64_t n) override {
    for (int64_t i = 0; i < n; ++i) d[i] = mirror_ ? 2 * d[i] : d[i] + peer_;
  }
  void broadcast(void*, int64_t bytes, int) override { broadcast_bytes += bytes; }
  std::vector<std::string> allgather(const std::string& t) override { return {t, t}; }
  void barrier() override {}
  std::vector<int64_t> host_calls;
  int64_t broadcast_bytes = 0;

 private:
  float peer_;
  bool mirror_;
};

Tensor param_on(const std::vector<float>& v, const Shape& s, const Device& d) {
  Tensor t = Tensor::from_vector(v, s);
  if (!d.is_cpu()) t = t.to(d);
  t.set_requires_grad(true);
  return t;
}

// Three parameters (one without a gradient on this rank), reduced on `device`: every value after.
std::vector<float> reduce_on(const Device& device, double* loss, StandInComm& comm) {
  Tensor a = param_on({1, 2, 3, 4, 5, 6}, {2, 3}, device);
  Tensor b = param_on({0, 0, 0, 0}, {4}, device);
  Tensor unused = param_on({0, 0, 0, 0, 0}, {5}, device);
  Tensor ga = Tensor::from_vector({8, -8, 4, 2, 1, 0.5f}, {2, 3}), gb = Tensor::full({4}, -4.0f);
  a.set_grad(device.is_cpu() ? ga : ga.to(device));
  b.set_grad(device.is_cpu() ? gb : gb.to(device));
  // Buckets of at most 5 floats, in reverse order: unused (5), b (4), a (6, alone as it is larger).
  DataParallel dp(comm, {{"a", a}, {"b", b}, {"unused", unused}}, {}, 5);
  *loss = dp.reduce_gradients(32, 128, 2.0);
  std::vector<float> out;
  for (const Tensor& p : {a, b, unused}) {
    EXPECT_TRUE(p.grad().defined());
    EXPECT_EQ(p.grad().device(), device);
    const std::vector<float> g = p.grad().to_vector();
    out.insert(out.end(), g.begin(), g.end());
  }
  return out;
}

TEST(DeviceDataParallel, GradientsOnTheGpuAreReducedAsOnTheCpu) {
  EmulatedGpu gpu;
  StandInComm cpu_comm(0.25f), gpu_comm(0.25f);
  double cpu_loss = 0, gpu_loss = 0;
  const std::vector<float> want = reduce_on(Device::cpu(), &cpu_loss, cpu_comm);
  const std::vector<float> got = reduce_on(Device::cuda(0), &gpu_loss, gpu_comm);
  EXPECT_EQ(got, want);
  EXPECT_FLOAT_EQ(static_cast<float>(gpu_loss), static_cast<float>(cpu_loss));
  EXPECT_FLOAT_EQ(static_cast<float>(gpu_loss), 0.25f * 2.0f + 0.25f);
  // The values themselves: this rank's weight 32/128 times its gradient, plus the peer's share.
  EXPECT_FLOAT_EQ(got[0], 0.25f * 8 + 0.25f);
  EXPECT_FLOAT_EQ(got[6], 0.25f * -4 + 0.25f);
  EXPECT_FLOAT_EQ(got[10], 0.25f);  // no gradient here, but the peer has one
  // The device path: the header on the host, then each bucket staged through the host.
  EXPECT_EQ(gpu_comm.host_calls, (std::vector<int64_t>{1 + 3, 5, 4, 6}));
}

TEST(DeviceDataParallel, BroadcastAndStateAveragingReachTheGpu) {
  EmulatedGpu gpu;
  StandInComm comm(1.0f);
  Tensor p = param_on({1, 2, 3}, {3}, Device::cuda(0));
  Tensor running = Tensor::from_vector({4, 6}, {2}).to(Device::cuda(0));
  DataParallel dp(comm, {{"p", p}}, {running});
  dp.broadcast_from_first();
  EXPECT_EQ(comm.broadcast_bytes, 5 * static_cast<int64_t>(sizeof(float)));
  EXPECT_EQ(p.to_vector(), (std::vector<float>{1, 2, 3}));  // rank 0 keeps its own values
  dp.average_state();
  EXPECT_EQ(running.device(), Device::cuda(0));
  EXPECT_EQ(running.to_vector(), (std::vector<float>{2.5f, 3.5f}));  // (x + peer) / 2
}

TEST(DeviceDataParallel, MixedDevicesAreRefused) {
  EmulatedGpu gpu;
  StandInComm comm(0.0f);
  Tensor a = param_on({1}, {1}, Device::cpu()), b = param_on({1}, {1}, Device::cuda(0));
  EXPECT_TRUE(test::throws_error([&] { DataParallel dp(comm, {{"a", a}, {"b", b}}, {}); },
                                 "every exchanged tensor must be float32 on cpu"));
}

// The trainer with two ranks whose second mirrors the first: on the emulated GPU it takes the same
// steps as on the CPU (the ranks' shards, the exchange, the optimizer).
std::vector<float> train_two_ranks(const Device& device) {
  auto comm = std::make_shared<StandInComm>(0.0f, true);
  dist::set_world_for_testing(comm);
  const Dataset train = test::banded(96, 3);
  Rng init(7);
  Model m = build_model("mnist-mlp", config_for_dataset(train), init);
  TrainConfig c;
  c.epochs = 2;
  c.batch_size = 32;
  c.lr = 0.05f;
  c.seed = 5;
  c.progress = false;
  c.device = device;
  const TrainResult r = train_model(m, train, normalization_of(train), c);
  dist::set_world_for_testing(nullptr);
  EXPECT_FALSE(comm->host_calls.empty()) << "the ranks exchanged gradients";
  std::vector<float> out = r.epoch_loss;
  for (const auto& [name, t] : m.net->named_parameters()) {
    const std::vector<float> v = t.to_vector();
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

TEST(DeviceDataParallel, TrainingOnTheGpuOverTwoRanksMatchesTheCpu) {
  EmulatedGpu gpu;
  const std::vector<float> want = train_two_ranks(Device::cpu());
  const std::vector<float> got = train_two_ranks(Device::cuda(0));
  EXPECT_LT(want[1], want[0]);  // it learns
  EXPECT_TRUE(close_to(got, want, 1e-5f, 1e-4f));
}

}  // namespace
}  // namespace signet::testing
