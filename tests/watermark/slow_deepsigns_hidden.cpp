// Acceptance run of the DeepSigns hidden-layer watermark on Fashion-MNIST (label `slow`):
// mnist-mlp, layer relu2 (second-to-last), 32 bits, 5 epochs, seed 1.
//  - the marked model has BER 0 and test accuracy within 0.5 points of the unmarked model
//    trained with the same seed and recipe;
//  - the same keys on 5 unmarked models trained with other seeds claim nothing.
#include <gtest/gtest.h>

#include <filesystem>

#include "watermark/deepsigns/hidden.h"

using namespace signet;

namespace {
TrainConfig recipe(uint64_t seed) {
  TrainConfig c;
  c.epochs = 5;
  c.seed = seed;
  c.progress = false;
  return c;
}
}  // namespace

TEST(SlowDeepSignsHidden, FashionMnistMlp32BitsFidelityAndIntegrity) {
  if (!std::filesystem::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  const Dataset train = load_dataset("fashion-mnist", "train");
  const Dataset test = load_dataset("fashion-mnist", "test");
  const Normalization norm = normalization_of(train);

  Rng init_u(1);
  Model unmarked = build_model("mnist-mlp", ModelConfig{}, init_u);
  train_model(unmarked, train, norm, recipe(1));
  const double acc_unmarked = evaluate_model(unmarked, test, norm).accuracy;

  Rng init_m(1);
  Model marked = build_model("mnist-mlp", ModelConfig{}, init_m);
  HiddenConfig wc;
  wc.layer = "relu2";
  wc.bits = 32;
  Rng key_rng(1 ^ 0x6B657973ULL);
  HiddenKeys keys = key_generation(marked, train, norm, wc, key_rng);
  embed_hidden(marked, train, norm, keys, recipe(1));
  const double acc_marked = evaluate_model(marked, test, norm).accuracy;
  const HiddenEvidence ev = extract_hidden(marked, keys);
  std::printf("unmarked %.4f, marked %.4f, BER %.4f, p %.3g\n", acc_unmarked, acc_marked, ev.ber, ev.p_value);
  EXPECT_EQ(ev.ber, 0.0);
  EXPECT_LE(ev.p_value, 1e-6);
  EXPECT_LE(std::abs(acc_marked - acc_unmarked), 0.005);

  double ber_sum = 0;
  for (uint64_t seed = 2; seed <= 6; ++seed) {
    Rng init(seed);
    Model other = build_model("mnist-mlp", ModelConfig{}, init);
    train_model(other, train, norm, recipe(seed));
    const HiddenEvidence e = extract_hidden(other, keys);
    std::printf("unmarked seed %llu: BER %.4f, p %.3g\n", static_cast<unsigned long long>(seed), e.ber, e.p_value);
    EXPECT_GT(e.p_value, 1e-6) << "seed " << seed;
    ber_sum += e.ber;
  }
  EXPECT_GT(ber_sum / 5, 0.25);  // near 1/2 on average, far from 0
}
