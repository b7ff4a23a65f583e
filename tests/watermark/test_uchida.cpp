// Uchida et al. weight watermark: default layer, regularizer gradient, embed/extract through the
// Scheme registry on a synthetic set, keys file round trip, unmarked models, bad options.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "engine/ops.h"
#include "models/registry.h"
#include "tests/engine/gradcheck.h"
#include "tests/watermark/banded_dataset.h"
#include "watermark/scheme.h"
#include "watermark/uchida/uchida.h"

namespace signet {
namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

Model mlp(uint64_t seed) {
  Rng init(seed);
  return build_model("mnist-mlp", ModelConfig{}, init);
}

TEST(Uchida, DefaultLayerIsTheMiddleWeightLayer) {
  EXPECT_EQ(uchida_default_layer(mlp(1)), "fc2.weight");
  Rng init(1);
  const Model cnn = build_model("cifar10-cnn", default_model_config("cifar10-cnn"), init);
  const std::vector<std::string> convs = uchida_candidate_layers(cnn);
  ASSERT_GE(convs.size(), 2u);
  EXPECT_EQ(uchida_default_layer(cnn), convs[(convs.size() - 1) / 2]);
  for (const std::string& c : convs) EXPECT_EQ(uchida_weight(cnn, c).dim(), 4) << c;
}

TEST(Uchida, CarrierIsTheMeanFilterAndTheRegularizerGradientMatchesFiniteDifferences) {
  Rng rng(3);
  const Tensor w = test::normal_tensor({4, 2, 3, 3}, rng, 0.3f);
  const Tensor c = uchida_carrier(w);
  ASSERT_EQ(c.numel(), 18);
  float expect = 0;
  for (int64_t l = 0; l < 4; ++l) expect += w.f32()[l * 18 + 5] / 4;
  EXPECT_NEAR(c.f32()[5], expect, 1e-6);
  const Tensor X = test::normal_tensor({6, 18}, rng);
  const Tensor b = Tensor::from_vector({1, 0, 0, 1, 1, 0}, {6});
  EXPECT_TRUE(test::gradcheck([&](const std::vector<Tensor>& in) { return uchida_regularizer(in[0], X, b, 0.5f); },
                              {w}));
}

TEST(Uchida, EmbedReachesBerZeroAndTheKeysRoundTripWhileUnmarkedModelsAreNotClaimed) {
  const Dataset train = test::banded(400, 3), test_set = test::banded(100, 4);
  const Scheme& s = find_scheme("uchida");
  EXPECT_TRUE(s.info().white_box);
  SchemeParams p = s.params();
  p.set("bits", "64");
  // 10x the paper's lambda: this set gives 48 steps, Fashion-MNIST 470 an epoch.
  p.set("lambda", "0.1");
  TrainConfig cfg;
  cfg.epochs = 3;
  cfg.batch_size = 25;
  cfg.progress = false;
  const KeyRandomness keys{uint64_t{42}, "test"};
  EmbedJob job{mlp(1), Normalization{}, false, &train, &test_set, cfg, p, keys, nullptr};
  Embedded e = s.embed(std::move(job));
  ASSERT_EQ(e.keys.size(), 1u);
  EXPECT_EQ(e.keys[0]->layer(), "fc2.weight");
  EXPECT_GT(e.accuracy, 0.9);
  const std::string path =
      (std::filesystem::temp_directory_path() / ("signet_uchida_" + std::to_string(getpid()) + ".wmk")).string();
  const std::string sha = save_keys(path, *e.keys[0]);
  const LoadedKeys lk = load_keys(path);
  std::filesystem::remove(path);
  EXPECT_EQ(lk.scheme, &s);
  EXPECT_EQ(lk.sha256, sha);
  EXPECT_EQ(lk.keys->size(), 64);
  EXPECT_EQ(lk.keys->suspect_config().input_shape, (Shape{1, 28, 28}));
  EXPECT_EQ(lk.keys->provenance.at("signet.key_seed"), "42");
  const Evidence ev = s.extract(e.model, e.norm, *lk.keys, s.default_alpha(*lk.keys));
  EXPECT_EQ(ev.value, 0.0) << ev.text;
  EXPECT_TRUE(ev.claimed);
  EXPECT_TRUE(ev.details.at("detected").get<bool>());
  EXPECT_NEAR(ev.p_value, std::ldexp(1.0, -64), 1e-25);

  // Unmarked models: a fresh one and one trained on the same data without the mark.
  Model fresh = mlp(77);
  const Evidence u = s.extract(fresh, e.norm, *lk.keys, s.default_alpha(*lk.keys));
  EXPECT_FALSE(u.claimed) << u.text;
  EXPECT_FALSE(u.details.at("detected").get<bool>());
  Model plain = mlp(1);
  TrainConfig pc = cfg;
  train_model(plain, train, e.norm, pc);
  const Evidence v = s.extract(plain, e.norm, *lk.keys, s.default_alpha(*lk.keys));
  EXPECT_FALSE(v.claimed) << v.text;
  EXPECT_GT(v.p_value, 1e-4) << v.text;
}

TEST(Uchida, BadOptionsAreErrorsThatSayWhatToDo) {
  const Model m = mlp(1);
  Rng rng(1);
  std::string msg = error_of([&] { uchida_key_generation(m, "fc9.weight", 8, 0.01f, "", rng); });
  EXPECT_NE(msg.find("no parameter 'fc9.weight'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("fc2.weight"), std::string::npos) << msg;
  msg = error_of([&] { uchida_key_generation(m, "fc2.bias", 8, 0.01f, "", rng); });
  EXPECT_NE(msg.find("1-D parameter"), std::string::npos) << msg;
  msg = error_of([&] { uchida_key_generation(m, "fc3.weight", 600, 0.01f, "", rng); });
  EXPECT_NE(msg.find("--bits <= 512"), std::string::npos) << msg;
  SchemeParams p = find_scheme("uchida").params();
  EXPECT_NE(error_of([&] { p.set("lambda", "-1", "--lambda"); }).find("--lambda must be between"), std::string::npos);
  // An owner string gives its SHA-256 bits.
  const UchidaKeys k = uchida_key_generation(m, "", 16, 0.01f, "abc", rng);
  EXPECT_EQ(k.b.to_vector(), (std::vector<float>{1, 0, 1, 1, 1, 0, 1, 0, 0, 1, 1, 1, 1, 0, 0, 0}));
}

}  // namespace
}  // namespace signet
