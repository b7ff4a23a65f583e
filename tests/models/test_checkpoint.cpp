// Checkpoints: a run stopped after an epoch and resumed gives bit-identical weights to a run
// that was never stopped (data order, dropout RNG, optimizer state and LR schedule restored).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "models/trainer.h"

using namespace signet;
namespace fs = std::filesystem;

namespace {
Dataset tiny_dataset(int64_t n) {
  Rng rng(7);
  Dataset d;
  d.name = "tiny";
  d.images = Tensor::empty({n, 1, 28, 28});
  d.labels = Tensor::empty({n}, DType::I64);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = static_cast<int64_t>(rng.below(10));
    d.labels.i64()[i] = c;
    for (int64_t k = 0; k < 784; ++k) d.images.f32()[i * 784 + k] = (k % 10 == c ? 0.8f : 0.1f) + 0.1f * static_cast<float>(rng.uniform());
  }
  return d;
}

std::string temp_path(const std::string& name) {
  return (fs::temp_directory_path() / ("signet_ckpt_" + std::to_string(getpid()) + "_" + name)).string();
}

std::vector<float> all_params(const Model& m) {
  std::vector<float> v;
  for (auto& [n, t] : m.net->named_parameters()) {
    auto x = t.to_vector();
    v.insert(v.end(), x.begin(), x.end());
  }
  return v;
}
}  // namespace

class CheckpointResume : public ::testing::TestWithParam<std::string> {};

TEST_P(CheckpointResume, ResumedRunEqualsUninterruptedRun) {
  const Dataset data = tiny_dataset(300);
  const Normalization norm{{0.2f}, {0.3f}};
  TrainConfig cfg;
  cfg.epochs = 3;
  cfg.batch_size = 32;
  cfg.lr = GetParam() == "sgd" ? 0.05f : 1e-3f;
  cfg.optimizer = GetParam();
  cfg.seed = 11;
  cfg.progress = false;
  ModelConfig mc;
  mc.dropout = 0.2f;  // exercises the model RNG state

  Rng r1(cfg.seed);
  Model straight = build_model("mnist-mlp", mc, r1);
  train_model(straight, data, norm, cfg);

  const std::string ck = temp_path(GetParam() + ".safetensors");
  Rng r2(cfg.seed);
  Model first = build_model("mnist-mlp", mc, r2);
  TrainConfig part = cfg;
  part.checkpoint_path = ck;
  part.stop_after_epochs = 1;  // as if killed after epoch 1
  train_model(first, data, norm, part);

  Rng r3(999);  // different init: everything must come from the checkpoint
  Model resumed = build_model("mnist-mlp", mc, r3);
  TrainConfig rest = cfg;
  rest.resume_path = ck;
  const TrainResult rr = train_model(resumed, data, norm, rest);
  EXPECT_EQ(rr.epochs_run, 2);
  EXPECT_EQ(all_params(resumed), all_params(straight));
  fs::remove(ck);
}

INSTANTIATE_TEST_SUITE_P(Optimizers, CheckpointResume, ::testing::Values("sgd", "adamw"));

TEST(Checkpoint, WrongFilesAreClearErrors) {
  const std::string p = temp_path("model.safetensors");
  Rng rng(1);
  Model m = build_model("mnist-mlp", ModelConfig{}, rng);
  save_model(p, m, Normalization{{0.5f}, {0.25f}});
  auto opt = make_optimizer("sgd", m.net->named_parameters(), 0.1f, 0.9f, 0, false);
  try {
    load_checkpoint(p, m, *opt);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a checkpoint"), std::string::npos) << e.what();
  }
  Normalization norm;
  Model back = load_model(p, "mnist-mlp", &norm);
  EXPECT_EQ(norm.mean, std::vector<float>{0.5f});
  EXPECT_EQ(all_params(back), all_params(m));
  EXPECT_THROW(load_model(p, "cifar10-cnn", nullptr), Error);
  fs::remove(p);
}

TEST(Trainer, NanLossStopsWithAnActionableError) {
  const Dataset data = tiny_dataset(64);
  TrainConfig cfg;
  cfg.epochs = 1;
  cfg.batch_size = 16;
  cfg.lr = 1e30f;  // diverges at once
  cfg.schedule = "constant";
  cfg.progress = false;
  Rng rng(1);
  Model m = build_model("mnist-mlp", ModelConfig{}, rng);
  try {
    train_model(m, data, Normalization{}, cfg);
    FAIL() << "expected the loss to blow up";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--lr"), std::string::npos) << e.what();
  }
}

// A checkpoint whose header was edited or corrupted: the epoch and step to resume at are
// checked, never trusted (a negative epoch would rerun epochs, a huge step would run the
// learning-rate schedule past its end).
TEST(Checkpoint, CorruptEpochOrStepIsRejected) {
  const Dataset data = tiny_dataset(64);
  TrainConfig cfg;
  cfg.epochs = 2;
  cfg.batch_size = 16;
  cfg.progress = false;
  cfg.stop_after_epochs = 1;
  const std::string ck = temp_path("tampered.safetensors");
  cfg.checkpoint_path = ck;
  Rng rng(1);
  Model m = build_model("mnist-mlp", ModelConfig{}, rng);
  train_model(m, data, Normalization{}, cfg);
  const NamedTensors good = load_safetensors(ck);
  ASSERT_EQ(good.metadata.at("signet.next_epoch"), "1");
  ASSERT_EQ(good.metadata.at("signet.global_step"), "4");
  const std::vector<std::pair<std::string, std::string>> bad = {{"signet.next_epoch", "-5"},
                                                                {"signet.next_epoch", "99999999999"},
                                                                {"signet.global_step", "-1"},
                                                                {"signet.global_step", "9223372036854775807"},
                                                                {"signet.global_step", "0"}};
  for (const auto& [key, value] : bad) {
    NamedTensors t = good;
    t.metadata[key] = value;
    save_safetensors(ck, t);
    TrainConfig rest = cfg;
    rest.checkpoint_path.clear();
    rest.stop_after_epochs = -1;
    rest.resume_path = ck;
    Rng r2(1);
    Model m2 = build_model("mnist-mlp", ModelConfig{}, r2);
    try {
      train_model(m2, data, Normalization{}, rest);
      ADD_FAILURE() << key << "=" << value << " was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(key.substr(7)), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("corrupt"), std::string::npos) << e.what();
    }
  }
  fs::remove(ck);
}
