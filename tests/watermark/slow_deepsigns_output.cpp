// Acceptance run of the DeepSigns output-layer watermark on Fashion-MNIST (label `slow`):
// mnist-mlp trained 3 epochs (seed 1), K = 20 keys by the density search, default embedding.
//  - the marked model is detected with 0 mismatches and keeps test accuracy within 0.5 points;
//  - the same keys on 2 unmarked models trained with other seeds detect nothing.
#include <gtest/gtest.h>

#include <filesystem>

#include "watermark/deepsigns/output.h"

using namespace signet;

TEST(SlowDeepSignsOutput, FashionMnistMlpK20DetectionFidelityIntegrity) {
  if (!std::filesystem::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  const Dataset train = load_dataset("fashion-mnist", "train");
  const Dataset test = load_dataset("fashion-mnist", "test");
  const Normalization norm = normalization_of(train);
  auto trained = [&](uint64_t seed) {
    Rng init(seed);
    Model m = build_model("mnist-mlp", ModelConfig{}, init);
    TrainConfig c;
    c.epochs = 3;
    c.seed = seed;
    c.progress = false;
    train_model(m, train, norm, c);
    return m;
  };
  Model model = trained(1);
  const double acc_unmarked = evaluate_model(model, test, norm).accuracy;
  OutputConfig oc;
  oc.keys = 20;
  TrainConfig ft;
  ft.epochs = 30;
  ft.lr = 0.005f;
  ft.progress = false;
  OutputEmbedReport rep;
  Rng key_rng(1);
  const OutputKeys keys = embed_output(model, train, norm, oc, ft, key_rng, &rep);
  const double acc_marked = evaluate_model(model, test, norm).accuracy;
  LocalModelOracle marked(model, norm, "marked");
  const OutputEvidence ev = verify_output(marked, keys);
  std::printf("unmarked %.4f, marked %.4f; %lld of %lld drawn accepted, %lld survivors; mismatches %lld (theta %lld)\n",
              acc_unmarked, acc_marked, static_cast<long long>(rep.candidates), static_cast<long long>(rep.drawn),
              static_cast<long long>(rep.survivors), static_cast<long long>(ev.mismatches),
              static_cast<long long>(ev.theta));
  EXPECT_EQ(ev.mismatches, 0);
  EXPECT_TRUE(ev.detected);
  EXPECT_LE(std::abs(acc_marked - acc_unmarked), 0.005);
  for (uint64_t seed : {2, 3}) {
    Model other = trained(seed);
    LocalModelOracle o(other, norm, "other");
    const OutputEvidence e = verify_output(o, keys);
    std::printf("unmarked seed %llu: %lld mismatches\n", static_cast<unsigned long long>(seed),
                static_cast<long long>(e.mismatches));
    EXPECT_FALSE(e.detected) << "seed " << seed;
  }
}
