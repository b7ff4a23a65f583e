// GradSigns fine-tuning of a model with BatchNorm: by default ("auto") the running statistics stay
// as trained and the report says so; "train" lets them move; "frozen" without a trained model is
// an error that says why.
#include <gtest/gtest.h>

#include "models/registry.h"
#include "tests/watermark/banded_dataset.h"
#include "watermark/attacks/attacks.h"
#include "watermark/scheme.h"

namespace signet {
namespace {

std::vector<float> running_stats(const Model& m) {
  std::vector<float> out;
  for (const auto& [name, t] : m.net->named_buffers()) {
    if (name.find("running_") == std::string::npos) continue;
    Tensor c = t.contiguous();
    out.insert(out.end(), c.f32(), c.f32() + c.numel());
  }
  return out;
}

struct Trained {
  Model model;
  Dataset train = test::banded(120, 3), test_set = test::banded(40, 4);
  TrainConfig cfg;
  Trained() {
    Rng init(1);
    model = build_model("wrn-10-1", config_for_dataset(train), init);
    cfg.epochs = 1;
    cfg.batch_size = 40;
    cfg.progress = false;
    train_model(model, train, normalization_of(train), cfg);
  }
  Embedded embed(const std::string& batchnorm, bool from_trained) {
    SchemeParams p = find_scheme("gradsigns").params();
    p.set("bits", "8", "--bits");
    p.set("carriers", "16", "--carriers");
    p.set("samples", "8", "--samples");
    if (!batchnorm.empty()) p.set("batchnorm", batchnorm, "--batchnorm");
    EmbedJob job{clone_model(model), normalization_of(train), from_trained, &train, &test_set, cfg, p,
                 KeyRandomness{uint64_t{5}, "test"}, nullptr};
    return find_scheme("gradsigns").embed(std::move(job));
  }
};

TEST(GradSignsBatchNorm, FineTuningKeepsTheTrainedStatisticsUnlessAskedNotTo) {
  Trained t;
  const std::vector<float> before = running_stats(t.model);
  ASSERT_FALSE(before.empty());

  const Embedded frozen = t.embed("", true);  // auto: the model has BatchNorm
  EXPECT_TRUE(frozen.report.at("frozen_batchnorm").get<bool>());
  EXPECT_EQ(running_stats(frozen.model), before);

  const Embedded moving = t.embed("train", true);
  EXPECT_FALSE(moving.report.at("frozen_batchnorm").get<bool>());
  EXPECT_NE(running_stats(moving.model), before);
}

TEST(GradSignsBatchNorm, FrozenNeedsATrainedModel) {
  Trained t;
  try {
    t.embed("frozen", false);
    FAIL() << "frozen BatchNorm from scratch was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--batchnorm frozen needs a trained model"), std::string::npos) << e.what();
  }
  // From scratch, auto trains BatchNorm as usual.
  EXPECT_FALSE(t.embed("", false).report.at("frozen_batchnorm").get<bool>());
}

TEST(GradSignsBatchNorm, TheOptionStaysOutOfCacheNamesAtItsDefault) {
  SchemeParams p = find_scheme("gradsigns").params();
  const std::string plain = p.canonical();
  EXPECT_EQ(plain.find("batchnorm"), std::string::npos) << plain;
  p.set("batchnorm", "train", "--batchnorm");
  EXPECT_NE(p.canonical().find("batchnorm=train"), std::string::npos) << p.canonical();
}

}  // namespace
}  // namespace signet
