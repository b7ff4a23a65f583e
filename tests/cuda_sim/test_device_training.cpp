// Training on a device, end to end without a GPU: train_model with TrainConfig::device = the
// emulated cuda:0 moves mnist-mlp there, copies each batch there, runs forward, loss, backward and
// SGD on the device's kernels (cuBLAS's place taken by the reference GEMM), and gives the CPU's
// losses and weights; the model comes back to the CPU afterwards.
#include <gtest/gtest.h>

#include "models/registry.h"
#include "models/trainer.h"
#include "tests/cuda_sim/compare.h"
#include "tests/cuda_sim/sim_device.h"
#include "tests/engine/gradcheck.h"
#include "tests/watermark/banded_dataset.h"

namespace signet::testing {
namespace {

TEST(DeviceTraining, ModuleToMovesParametersAndKeepsThemTrainable) {
  EmulatedGpu gpu;
  Rng init(1);
  Model m = build_model("mnist-mlp", ModelConfig{}, init);
  EXPECT_EQ(m.net->device(), Device::cpu());
  m.net->to(Device::cuda(0));
  EXPECT_EQ(m.net->device(), Device::cuda(0));
  for (const auto& [name, p] : m.net->named_parameters()) {
    EXPECT_EQ(p.device(), Device::cuda(0)) << name;
    EXPECT_TRUE(p.requires_grad()) << name;
  }
  m.net->to(Device::cpu());
  EXPECT_EQ(m.net->named_parameters()[0].second.device(), Device::cpu());
}

TEST(DeviceTraining, MnistMlpTrainsOnTheEmulatedGpuAsOnTheCpu) {
  EmulatedGpu gpu;
  const Dataset train = test::banded(96, 3);
  const Normalization norm = normalization_of(train);
  auto run = [&](const Device& d) {
    Rng init(7);
    Model m = build_model("mnist-mlp", config_for_dataset(train), init);
    TrainConfig c;
    c.epochs = 2;
    c.batch_size = 32;
    c.lr = 0.05f;
    c.seed = 5;
    c.progress = false;
    c.device = d;
    const TrainResult r = train_model(m, train, norm, c);
    EXPECT_EQ(m.net->device(), Device::cpu()) << "the trained model comes back to the CPU";
    std::vector<float> out = r.epoch_loss;
    for (const auto& [name, p] : m.net->named_parameters()) {
      const std::vector<float> v = p.to_vector();
      out.insert(out.end(), v.begin(), v.end());
    }
    return out;
  };
  const std::vector<float> want = run(Device::cpu()), got = run(Device::cuda(0));
  EXPECT_LT(want[1], want[0]);  // it learns
  EXPECT_TRUE(close_to(got, want, 1e-5f, 1e-4f));
}

TEST(DeviceTraining, WhatDoesNotRunOnTheDeviceYetIsRefusedWithTheReason) {
  EmulatedGpu gpu;
  const Dataset train = test::banded(32, 3);
  Rng init(7);
  Model m = build_model("mnist-mlp", config_for_dataset(train), init);
  TrainConfig c;
  c.epochs = 1;
  c.progress = false;
  c.device = Device::cuda(0);
  c.resume_path = "/nonexistent.ckpt";
  EXPECT_TRUE(test::throws_error([&] { train_model(m, train, normalization_of(train), c); },
                                 "resuming runs on the CPU only for now"));
  c.resume_path.clear();
  c.after_step = [] {};
  EXPECT_TRUE(test::throws_error([&] { train_model(m, train, normalization_of(train), c); },
                                 "run on the CPU only for now"));
  Rng init2(7);
  Model cnn = build_model("cifar10-cnn", config_for_dataset(train), init2);
  c.after_step = nullptr;
  EXPECT_TRUE(test::throws_error([&] { train_model(cnn, train, normalization_of(train), c); },
                                 "conv2d: no kernel for device cuda:0 yet"));
}

}  // namespace
}  // namespace signet::testing
