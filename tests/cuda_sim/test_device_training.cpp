// Training on a device, end to end without a GPU: train_model with TrainConfig::device = the
// emulated cuda:0 moves mnist-mlp (and cifar10-cnn) there, copies each batch there, runs forward, loss, backward and
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

// Trains `model` two epochs from init seed 3 on `device` and returns the per-epoch losses, then
// every parameter and float buffer (running statistics) after training.
std::vector<float> train_and_collect(const std::string& model, const Dataset& train, const Normalization& norm,
                                     const Device& device, int64_t batch, uint64_t init_seed) {
  Rng init(init_seed);
  Model m = build_model(model, config_for_dataset(train), init);
  TrainConfig c;
  c.epochs = 2;
  c.batch_size = batch;
  c.lr = 0.05f;
  c.seed = 5;
  c.progress = false;
  c.device = device;
  const TrainResult r = train_model(m, train, norm, c);
  EXPECT_EQ(m.net->device(), Device::cpu()) << "the trained model comes back to the CPU";
  std::vector<float> out = r.epoch_loss;
  NamedTensorList all = m.net->named_parameters();
  for (const auto& b : m.net->named_buffers())
    if (b.second.dtype() == DType::F32) all.push_back(b);
  for (const auto& [name, t] : all) {
    const std::vector<float> v = t.to_vector();
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

TEST(DeviceTraining, MnistMlpTrainsOnTheEmulatedGpuAsOnTheCpu) {
  EmulatedGpu gpu;
  const Dataset train = test::banded(96, 3);
  const Normalization norm = normalization_of(train);
  const std::vector<float> want = train_and_collect("mnist-mlp", train, norm, Device::cpu(), 32, 7);
  const std::vector<float> got = train_and_collect("mnist-mlp", train, norm, Device::cuda(0), 32, 7);
  EXPECT_LT(want[1], want[0]);  // it learns
  EXPECT_TRUE(close_to(got, want, 1e-5f, 1e-4f));
}

// Small images for the convolutional model: 8x8, the class is which quadrant is brightest.
Dataset quadrant_images(int64_t n, uint64_t seed) {
  Rng rng(seed);
  Dataset d;
  d.name = "quadrants";
  d.num_classes = 4;
  std::vector<float> px(static_cast<size_t>(n * 64));
  std::vector<int64_t> y(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    y[i] = static_cast<int64_t>(rng.below(4));
    for (int64_t r = 0; r < 8; ++r)
      for (int64_t c = 0; c < 8; ++c) {
        const bool lit = (r / 4) * 2 + (c / 4) == y[i];
        px[i * 64 + r * 8 + c] = (lit ? 0.6f : 0.0f) + 0.4f * rng.uniform(0.0f, 1.0f);
      }
  }
  d.images = Tensor::from_vector(px, {n, 1, 8, 8});
  d.labels = Tensor::from_vector_i64(y, {n});
  return d;
}

// cifar10-cnn (convolutions, max pooling, dropout off) and a Wide ResNet (batch norm with its
// running statistics, global average pooling) on 8x8 images.
class ConvNetOnDevice : public ::testing::TestWithParam<std::string> {};

TEST_P(ConvNetOnDevice, TrainsOnTheEmulatedGpuAsOnTheCpu) {
  EmulatedGpu gpu;
  const Dataset train = quadrant_images(48, 4);
  const Normalization norm = normalization_of(train);
  const std::vector<float> want = train_and_collect(GetParam(), train, norm, Device::cpu(), 16, 3);
  const std::vector<float> got = train_and_collect(GetParam(), train, norm, Device::cuda(0), 16, 3);
  EXPECT_TRUE(close_to(got, want, 1e-4f, 1e-3f));
}
INSTANTIATE_TEST_SUITE_P(Models, ConvNetOnDevice, ::testing::Values("cifar10-cnn", "wrn-10-1"),
                         [](const auto& info) { return info.param == "cifar10-cnn" ? std::string("Cifar10Cnn")
                                                                                   : std::string("Wrn10x1"); });

// Token sequences for imdb-lstm: the label is whether token 3 occurs in the first half.
Dataset token_sequences(int64_t n, int64_t L, int64_t vocab, uint64_t seed) {
  Rng rng(seed);
  Dataset d;
  d.name = "tokens";
  d.num_classes = 2;
  d.vocab_size = vocab;
  std::vector<int64_t> ids(static_cast<size_t>(n * L)), y(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t t = 0; t < L; ++t) ids[i * L + t] = static_cast<int64_t>(rng.below(static_cast<uint64_t>(vocab)));
    y[i] = 0;
    for (int64_t t = 0; t < L / 2; ++t) y[i] = y[i] || ids[i * L + t] == 3;
  }
  d.images = Tensor::from_vector_i64(ids, {n, L});
  d.labels = Tensor::from_vector_i64(y, {n});
  return d;
}

// imdb-lstm: embedding, the LSTM as a per-step graph of device ops, one logit, BCE.
TEST(DeviceTraining, ImdbLstmTrainsOnTheEmulatedGpuAsOnTheCpu) {
  EmulatedGpu gpu;
  const Dataset train = token_sequences(32, 9, 12, 5);
  const std::vector<float> want = train_and_collect("imdb-lstm", train, Normalization{}, Device::cpu(), 8, 3);
  const std::vector<float> got = train_and_collect("imdb-lstm", train, Normalization{}, Device::cuda(0), 8, 3);
  EXPECT_TRUE(close_to(got, want, 1e-5f, 1e-3f));
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

}

}  // namespace
}  // namespace signet::testing
