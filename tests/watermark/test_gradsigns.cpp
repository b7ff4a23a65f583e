// GradSigns input-gradient watermark: the composed loss's gradient against finite differences,
// embed/extract white-box and black-box through the Scheme registry on a synthetic set, the
// zeroth-order estimator against the exact gradient, the query budget, keys file round trip,
// unmarked models, bad options.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "engine/ops.h"
#include "layers/layers.h"
#include "models/registry.h"
#include "tests/engine/gradcheck.h"
#include "tests/watermark/banded_dataset.h"
#include "watermark/gradsigns/gradsigns.h"
#include "watermark/scheme.h"

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

Model tiny_mlp(uint64_t seed) {
  Rng init(seed);
  auto net = std::make_shared<Sequential>("Tiny");
  net->add("flatten", std::make_shared<Flatten>());
  net->add("fc1", std::make_shared<Linear>(16, 8, true, init));
  net->add("relu1", std::make_shared<ReLU>());
  net->add("fc2", std::make_shared<Linear>(8, 3, true, init));
  net->assign_paths();
  Model m;
  m.name = "tiny";
  m.config.num_classes = 3;
  m.config.input_shape = {1, 4, 4};
  m.net = net;
  return m;
}

// The composed loss lambda * BCE(sigmoid(K G-bar(theta)), b), differentiated through the input
// gradient (double backward), against central differences in every weight of the model.
TEST(GradSigns, ComposedLossGradientMatchesFiniteDifferences) {
  Model m = tiny_mlp(3);
  m.net->eval();
  Rng rng(4);
  const Tensor x = test::normal_tensor({5, 1, 4, 4}, rng);
  const Tensor carriers = Tensor::from_vector_i64({1, 4, 7, 9, 12, 15}, {6});
  const Tensor inv = Tensor::full({6}, 2.0f);
  const Tensor K = test::normal_tensor({4, 6}, rng);
  const Tensor b = Tensor::from_vector({1, 0, 1, 1}, {4});
  auto loss = [&](bool create_graph) {
    return gradsigns_regularizer(carrier_gradient(m, x, 2, carriers, inv, create_graph), K, b, 3.0f);
  };
  for (const auto& [name, p] : m.net->named_parameters()) {
    const Tensor analytic = grad(loss(true), {p})[0];
    double worst = 0, scale = 0;
    for (int64_t i = 0; i < p.numel(); ++i) {
      const float keep = p.f32()[i];
      const float eps = 1e-2f;
      p.f32()[i] = keep + eps;
      const double up = loss(false).item();
      p.f32()[i] = keep - eps;
      const double down = loss(false).item();
      p.f32()[i] = keep;
      const double numeric = (up - down) / (2 * eps);
      worst = std::max(worst, std::abs(numeric - analytic.f32()[i]));
      scale = std::max(scale, std::abs(numeric));
    }
    EXPECT_GT(scale, 1e-3) << name << ": the loss does not depend on it";
    EXPECT_LT(worst, 1e-3 + 2e-2 * scale) << name;
  }
}

TEST(GradSigns, EmbedIsDetectedWhiteAndBlackBoxWithinTheDefaultBudgetAndUnmarkedModelsAreNot) {
  const Dataset train = test::banded(400, 3), test_set = test::banded(100, 4);
  const Scheme& s = find_scheme("gradsigns");
  EXPECT_TRUE(s.info().white_box && s.info().black_box);
  SchemeParams p = s.params();
  TrainConfig cfg;
  cfg.epochs = 6;
  cfg.batch_size = 50;
  cfg.progress = false;
  const KeyRandomness keys{uint64_t{42}, "test"};
  EmbedJob job{mlp(1), Normalization{}, false, &train, &test_set, cfg, p, keys, nullptr};
  Embedded e = s.embed(std::move(job));
  ASSERT_EQ(e.keys.size(), 1u);
  EXPECT_GT(e.accuracy, 0.9);
  const std::string path =
      (std::filesystem::temp_directory_path() / ("signet_gradsigns_" + std::to_string(getpid()) + ".wmk")).string();
  const std::string sha = save_keys(path, *e.keys[0]);
  const LoadedKeys lk = load_keys(path);
  std::filesystem::remove(path);
  EXPECT_EQ(lk.scheme, &s);
  EXPECT_EQ(lk.sha256, sha);
  EXPECT_EQ(lk.keys->size(), 32);
  EXPECT_EQ(lk.keys->suspect_config().input_shape, (Shape{1, 28, 28}));
  const double alpha = s.default_alpha(*lk.keys);

  const Evidence wb = s.extract(e.model, e.norm, *lk.keys, alpha);
  EXPECT_EQ(wb.value, 0.0) << wb.text;
  EXPECT_TRUE(wb.details.at("detected").get<bool>());
  // The estimator against the exact gradient of the same model.
  EXPECT_LT(wb.details.at("zeroth_order_rel_error").get<double>(), 0.05) << wb.details.dump();
  EXPECT_EQ(wb.details.at("zeroth_order_ber").get<double>(), 0.0);

  // 40 key samples of the target class in this set: (64 + 1) x 40 queries.
  LocalModelOracle oracle(e.model, e.norm, "marked");
  const Evidence bb = s.query(oracle, *lk.keys, alpha);
  EXPECT_TRUE(bb.claimed) << bb.text;
  EXPECT_TRUE(bb.details.at("detected").get<bool>());
  EXPECT_EQ(bb.details.at("queries").get<int64_t>(), 65 * 40);
  EXPECT_EQ(oracle.queries(), 65 * 40);

  // Unmarked: fresh, and trained on the same data without the mark; white-box and black-box.
  Model plain = mlp(1);
  train_model(plain, train, e.norm, cfg);
  for (Model* u : {&plain}) {
    const Evidence w = s.extract(*u, e.norm, *lk.keys, alpha);
    EXPECT_FALSE(w.claimed) << w.text;
    LocalModelOracle o(*u, e.norm, "unmarked");
    const Evidence b = s.query(o, *lk.keys, alpha);
    EXPECT_FALSE(b.claimed) << b.text;
    EXPECT_FALSE(b.details.at("detected").get<bool>());
    EXPECT_GT(b.p_value, 1e-4) << b.text;
  }
  Model fresh = mlp(77);
  LocalModelOracle fo(fresh, e.norm, "fresh");
  EXPECT_FALSE(s.query(fo, *lk.keys, alpha).claimed);
  EXPECT_FALSE(s.extract(fresh, e.norm, *lk.keys, alpha).claimed);
}

TEST(GradSigns, TheQueryBudgetLimitsTheSamples) {
  const Dataset train = test::banded(200, 5);
  const Model m = mlp(2);
  GradSignsConfig c;
  c.carriers = 10;
  c.queries = 25;  // two samples of 11 queries
  Rng rng(6);
  const GradSignsKeys k = gradsigns_key_generation(m, train, c, rng);
  LocalModelOracle oracle(m, Normalization{}, "m");
  const ZerothOrderGradient zo = zeroth_order_gradient(oracle, k);
  EXPECT_EQ(zo.samples, 2);
  EXPECT_EQ(zo.queries, 22);
  EXPECT_EQ(oracle.queries(), 22);
}

TEST(GradSigns, BadOptionsAreErrorsThatSayWhatToDo) {
  const Dataset train = test::banded(200, 5);
  const Model m = mlp(2);
  Rng rng(1);
  GradSignsConfig c;
  c.carriers = 785;
  EXPECT_NE(error_of([&] { gradsigns_key_generation(m, train, c, rng); }).find("--carriers must be between 1 and 784"),
            std::string::npos);
  c.carriers = 64;
  c.queries = 64;
  EXPECT_NE(error_of([&] { gradsigns_key_generation(m, train, c, rng); }).find("carriers + 1 = 65 queries"),
            std::string::npos);
  SchemeParams p = find_scheme("gradsigns").params();
  EXPECT_NE(error_of([&] { p.set("step", "0", "--step"); }).find("--step must be between"), std::string::npos);
  Rng init(1);
  const Model lstm = build_model("imdb-lstm", default_model_config("imdb-lstm"), init);
  EXPECT_NE(error_of([&] { gradsigns_key_generation(lstm, train, GradSignsConfig{}, rng); }).find("image classifier"),
            std::string::npos);
}

}  // namespace
}  // namespace signet
