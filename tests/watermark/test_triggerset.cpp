// Trigger-set watermarks (watermark/triggerset/): the null-rate bound and decision, the patterns,
// FGSM, and for every scheme on small separable data (deterministic key seeds): embedding makes
// the trigger set claimed, an unmarked model is not claimed, the keys round-trip through a file,
// a keys file whose null rate was lowered is refused.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <memory>

#include "models/trainer.h"
#include "tests/watermark/banded_dataset.h"
#include "watermark/triggerset/frontier.h"
#include "watermark/triggerset/patterns.h"
#include "watermark/triggerset/schemes.h"
#include "watermark/triggerset/trigger_set.h"
#include "watermark/verify/stats.h"

using namespace signet;
namespace fs = std::filesystem;
using signet::test::banded;

namespace {

std::string tmp(const std::string& name) {
  return (fs::temp_directory_path() / ("signet_trig_" + std::to_string(getpid()) + "_" + name)).string();
}

struct Data {
  Dataset train, test;
};

const Data& banded_data() {
  static const Data d{banded(2000, 11), banded(500, 12)};
  return d;
}

// The first 4,000 / 1,000 Fashion-MNIST images (frontier stitching needs a frontier that is not
// as clean as the banded set's, where no FGSM example of one model fools another).
const Data* fashion_subset() {
  static const std::unique_ptr<Data> d = []() -> std::unique_ptr<Data> {
    if (!fs::exists("/usr/share/datasets/fashion-mnist")) return nullptr;
    auto first = [](const Dataset& s, int64_t n) {
      Dataset o = s;
      o.images = s.images.narrow_view(0, 0, n).contiguous();
      o.labels = s.labels.narrow_view(0, 0, n).contiguous();
      return o;
    };
    return std::make_unique<Data>(Data{first(load_dataset("fashion-mnist", "train"), 4000),
                                       first(load_dataset("fashion-mnist", "test"), 1000)});
  }();
  return d.get();
}

const Data* g_data = nullptr;  // the data of the test running (banded unless it says otherwise)
const Dataset& train_set() { return g_data ? g_data->train : banded_data().train; }
const Dataset& test_set() { return g_data ? g_data->test : banded_data().test; }

Model fresh_model(uint64_t seed) {
  Rng init(seed);
  return build_model("mnist-mlp", config_for_dataset(train_set()), init);
}

TrainConfig quick(int64_t epochs, float lr, uint64_t seed) {
  TrainConfig c;
  c.epochs = epochs;
  c.lr = lr;
  c.batch_size = 64;
  c.seed = seed;
  c.progress = false;
  return c;
}

// A model trained on the data alone: the base to fine-tune, and "unmarked" suspects.
Model trained_model(uint64_t seed) {
  Model m = fresh_model(seed);
  train_model(m, train_set(), normalization_of(train_set()), quick(g_data ? 4 : 2, 0.05f, seed));
  return m;
}

Embedded embed_with(const Scheme& s, const std::map<std::string, std::string>& opts, bool from_trained) {
  SchemeParams p = s.params();
  for (const auto& [k, v] : opts) p.set(k, v);
  s.check(p);
  EmbedJob job{from_trained ? trained_model(3) : fresh_model(3),
               Normalization{},
               from_trained,
               &train_set(),
               &test_set(),
               quick(from_trained ? 10 : 3, from_trained ? 0.01f : 0.05f, 4),
               p,
               KeyRandomness{7, "test"},
               nullptr};
  return s.embed(std::move(job));
}

Evidence ask(const Scheme& s, Model model, const SchemeKeys& keys) {
  LocalModelOracle o(std::move(model), normalization_of(train_set()), "suspect");
  return s.query(o, keys, s.default_alpha(keys));
}

// Embeds, checks the marked model is claimed (also after a keys-file round trip) and an unmarked
// model is not; returns the marked evidence.
Evidence check_scheme(const Scheme& s, const std::map<std::string, std::string>& opts, bool from_trained) {
  Embedded e = embed_with(s, opts, from_trained);
  EXPECT_EQ(e.keys.size(), 1u);
  EXPECT_GT(e.accuracy, g_data ? 0.7 : 0.85) << s.info().name;  // the data are learnt
  const Evidence marked = ask(s, e.model, *e.keys[0]);
  EXPECT_TRUE(marked.claimed) << s.info().name << ": " << marked.text;
  EXPECT_LE(marked.p_value, 1e-6);
  EXPECT_EQ(marked.details.at("queries").get<int64_t>(), e.keys[0]->size());
  EXPECT_TRUE(marked.details.at("detected").get<bool>());
  EXPECT_EQ(marked.details.at("matches").get<int64_t>(), marked.matches);

  const std::string path = tmp(s.info().name + ".wmk");
  save_keys(path, *e.keys[0]);
  const LoadedKeys lk = load_keys(path);
  EXPECT_EQ(lk.scheme, &s);
  EXPECT_EQ(lk.keys->size(), e.keys[0]->size());
  EXPECT_EQ(lk.keys->describe().at("null_rate"), e.keys[0]->describe().at("null_rate"));
  const Evidence again = ask(s, e.model, *lk.keys);
  EXPECT_EQ(again.matches, marked.matches);
  EXPECT_EQ(again.p_value, marked.p_value);

  // A model trained on the same data without the triggers (another seed) is not claimed.
  const Evidence unmarked = ask(s, trained_model(21), *lk.keys);
  EXPECT_FALSE(unmarked.claimed) << s.info().name << ": " << unmarked.text;
  EXPECT_GT(unmarked.p_value, 1e-6);
  fs::remove(path);
  return marked;
}

}  // namespace

TEST(TriggerSetStats, ClopperPearsonUpperBound) {
  // 0 of 10 at 99.9%: (1 - q)^10 = 0.001.
  EXPECT_NEAR(clopper_pearson_upper(0, 10, 0.999), 1 - std::pow(0.001, 0.1), 1e-9);
  EXPECT_EQ(clopper_pearson_upper(10, 10, 0.999), 1.0);
  for (int64_t m : {1, 5, 37, 80}) {
    const double q = clopper_pearson_upper(m, 100, 0.99);
    EXPECT_GT(q, m / 100.0);
    // P[Binomial(100, q) <= m] = 1%.
    EXPECT_NEAR(1 - binomial_upper_tail(100, m + 1, q), 0.01, 1e-9) << m;
    EXPECT_GT(clopper_pearson_upper(m, 100, 0.999), q);  // a higher level, a wider bound
  }
  EXPECT_THROW(clopper_pearson_upper(11, 10, 0.99), Error);
  EXPECT_THROW(clopper_pearson_upper(1, 10, 1.0), Error);
}

TEST(TriggerSetStats, MatchesNeededIsTheDecisionBoundary) {
  for (double q0 : {0.1, 0.3, 0.6})
    for (int64_t K : {10, 50, 100}) {
      const int64_t m = matches_needed(K, q0, 1e-6);
      if (m <= K) EXPECT_LE(binomial_upper_tail(K, m, q0), 1e-6);
      if (m >= 1) EXPECT_GT(binomial_upper_tail(K, m - 1, q0), 1e-6);
    }
  EXPECT_EQ(matches_needed(5, 0.5, 1e-6), 6);  // 0.5^5 > 1e-6: nothing is enough
}

TEST(TriggerSetPatterns, TestTextStampAndFit) {
  const StampPattern p = text_pattern("TEST", 2, 0.8f);
  EXPECT_EQ(p.height(), 10);
  EXPECT_EQ(p.width(), 30);  // 4 letters x 3 dots + 3 gaps, 2 pixels each
  EXPECT_EQ(p.alpha.f32()[0], 1.0f);           // T's top bar
  EXPECT_EQ(p.alpha.f32()[2 * 30 + 0], 0.0f);  // below the bar, left of the stem
  EXPECT_EQ(p.alpha.f32()[2 * 30 + 2], 1.0f);  // the stem
  EXPECT_THROW(text_pattern("TAX", 1, 1), Error);

  Tensor img = Tensor::zeros({1, 1, 28, 28});
  const Tensor s = stamp(img, text_pattern("TEST", 1, 1), 6, 22);
  double sum = 0;
  for (int64_t i = 0; i < 784; ++i) sum += s.f32()[i];
  EXPECT_EQ(sum, 7 + 10 + 11 + 7);  // the dots of T, E, S, T
  EXPECT_EQ(img.f32()[22 * 28 + 6], 0.0f);      // the input is unchanged
  EXPECT_THROW(stamp(img, text_pattern("TEST", 2, 1), 0, 20), Error);

  const Tensor f = fit_images(s, Shape{3, 32, 32});
  EXPECT_EQ(f.shape(), (Shape{1, 3, 32, 32}));
  for (int64_t i = 0; i < 32 * 32; ++i) EXPECT_EQ(f.f32()[i], f.f32()[2 * 32 * 32 + i]);
  EXPECT_THROW(image_pattern(tmp("missing.png"), 1), Error);
}

TEST(TriggerSetPatterns, PgmLogoIsReadWithStb) {
  const std::string path = tmp("logo.pgm");
  {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::fprintf(f, "P5\n3 2\n255\n");
    const unsigned char px[6] = {0, 255, 51, 102, 153, 204};
    std::fwrite(px, 1, 6, f);
    std::fclose(f);
  }
  const StampPattern p = image_pattern(path, 2);
  EXPECT_EQ(p.height(), 4);
  EXPECT_EQ(p.width(), 6);
  EXPECT_FLOAT_EQ(p.value.f32()[2], 1.0f);            // pixel (0, 1) enlarged
  EXPECT_FLOAT_EQ(p.value.f32()[3 * 6 + 5], 0.8f);    // pixel (1, 2)
  EXPECT_FLOAT_EQ(p.alpha.f32()[0], 1.0f);            // no alpha channel: opaque
  fs::remove(path);
}

TEST(TriggerSetPatterns, LogoAlphaIsTheStampsOpacity) {
  // A 2x1 uncompressed 32-bit TGA (stb_image reads it like a PNG with alpha): an opaque white
  // pixel and a transparent white one.
  const std::string path = tmp("logo.tga");
  {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    const unsigned char tga[18 + 8] = {0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1, 0, 32, 0x28,
                                       255, 255, 255, 255, 255, 255, 255, 0};
    std::fwrite(tga, 1, sizeof tga, f);
    std::fclose(f);
  }
  const StampPattern p = image_pattern(path, 1);
  ASSERT_EQ(p.width(), 2);
  EXPECT_FLOAT_EQ(p.alpha.f32()[0], 1.0f);
  EXPECT_FLOAT_EQ(p.alpha.f32()[1], 0.0f);
  const Tensor img = Tensor::full({1, 1, 3, 3}, 0.25f);
  const Tensor s = stamp(img, p, 1, 1);
  EXPECT_FLOAT_EQ(s.f32()[1 * 3 + 1], 1.0f);   // the opaque pixel
  EXPECT_FLOAT_EQ(s.f32()[1 * 3 + 2], 0.25f);  // the transparent one leaves the image
  fs::remove(path);
}

TEST(TriggerSetFrontier, FgsmMovesEveryPixelByEpsWithinRange) {
  Model m = trained_model(5);
  const Tensor x = train_set().images.narrow_view(0, 0, 20).contiguous();
  const Tensor y = train_set().labels.narrow_view(0, 0, 20).contiguous();
  const Tensor a = fgsm(m, normalization_of(train_set()), x, y, 0.05f);
  int64_t moved = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    const float d = a.f32()[i] - x.f32()[i];
    ASSERT_LE(std::fabs(d), 0.05f + 1e-6f);
    ASSERT_GE(a.f32()[i], 0.0f);
    ASSERT_LE(a.f32()[i], 1.0f);
    moved += std::fabs(std::fabs(d) - 0.05f) < 1e-6f;
  }
  EXPECT_GT(moved, x.numel() / 2);
  // The step raises the loss.
  const Normalization n = normalization_of(train_set());
  EXPECT_GT(model_loss(m, predict(m, normalise_inputs(a, n)), y).item(),
            model_loss(m, predict(m, normalise_inputs(x, n)), y).item());
}

TEST(TriggerSetSchemes, ZhangNoiseFromScratch) {
  const Evidence e = check_scheme(zhang_noise_scheme(), {{"keys", "40"}, {"key_repeat", "10"}}, false);
  EXPECT_EQ(e.details.at("null_kind"), "reference");
}

TEST(TriggerSetSchemes, ZhangContentFromScratchAndByFineTuning) {
  check_scheme(zhang_content_scheme(), {{"keys", "40"}, {"key_repeat", "10"}}, false);
  check_scheme(zhang_content_scheme(), {{"keys", "40"}, {"key_repeat", "10"}, {"target_class", "7"}}, true);
}

TEST(TriggerSetSchemes, ZhangUnrelatedFromAnotherDataSet) {
  check_scheme(zhang_unrelated_scheme(),
               {{"keys", "40"}, {"key_repeat", "10"}, {"unrelated_dataset", "synthetic:1x14x14:4:1000:10:9"},
                {"source_class", "2"}, {"target_class", "9"}},
               false);
}

TEST(TriggerSetSchemes, DefaultTargetIsTheClassTheReferenceAnswersLeast) {
  // Random images of any class: an unmarked banded model answers most of them with one class.
  Embedded e = embed_with(zhang_unrelated_scheme(),
                          {{"keys", "40"}, {"key_repeat", "10"}, {"unrelated_dataset", "synthetic:1x28x28:4:200:10:5"},
                           {"source_class", "-1"}},
                          false);
  const auto& refs = e.report.at("reference_matches");
  ASSERT_EQ(refs.size(), 1u);
  // The least answered of 10 classes gets at most 40 / 10 of the 40 triggers.
  EXPECT_LE(refs[0].at("matches").get<int64_t>(), 4);
  EXPECT_TRUE(ask(zhang_unrelated_scheme(), e.model, *e.keys[0]).claimed);
  EXPECT_FALSE(ask(zhang_unrelated_scheme(), trained_model(21), *e.keys[0]).claimed);
}

TEST(TriggerSetSchemes, ReferencesOfAnotherArchitectureSetTheTargetAndTheNull) {
  // The mark on mnist-mlp, with a cifar10-cnn reference beside the MLP one: the target class is
  // the one the more eager of the two answers least, and q0 is the larger of their bounds.
  Embedded e = embed_with(zhang_unrelated_scheme(),
                          {{"keys", "40"}, {"key_repeat", "10"}, {"unrelated_dataset", "synthetic:1x28x28:4:200:10:5"},
                           {"source_class", "-1"}, {"other_references", "cifar10-cnn"}, {"reference_epochs", "1"}},
                          false);
  const auto& refs = e.report.at("reference_matches");
  ASSERT_EQ(refs.size(), 2u);
  EXPECT_NE(refs[0].at("reference").get<std::string>().find("mnist-mlp"), std::string::npos);
  EXPECT_NE(refs[1].at("reference").get<std::string>().find("cifar10-cnn"), std::string::npos);
  int64_t worst = 0;
  for (const auto& r : refs) {
    worst = std::max(worst, r.at("matches").get<int64_t>());
    // The least-answered class's worst count is at most (40 + 40) / 10: the counts of each class's
    // larger answerer sum to at most the two references' 80 answers.
    EXPECT_LE(r.at("matches").get<int64_t>(), 8);
  }
  const double q0 = e.keys[0]->describe().at("null_rate").get<double>();
  EXPECT_DOUBLE_EQ(q0, clopper_pearson_upper(worst, 40, 0.999));
  EXPECT_NE(e.keys[0]->describe().at("null_source").get<std::string>().find("cifar10-cnn"), std::string::npos);
  EXPECT_TRUE(ask(zhang_unrelated_scheme(), e.model, *e.keys[0]).claimed);
}

TEST(TriggerSetSchemes, OtherReferencesDefaultPerModelAndStayOutOfOldNames) {
  const Scheme& z = zhang_noise_scheme();
  SchemeParams mlp = z.params(), cnn = z.params(), wrn = z.params(), off = z.params();
  const std::string before = mlp.canonical();
  EXPECT_EQ(before.find("other_references"), std::string::npos);  // marks cached before it existed keep their names
  z.model_defaults(mlp, "mnist-mlp");
  z.model_defaults(cnn, "cifar10-cnn");
  z.model_defaults(wrn, "wrn-16-4");
  off.set("other_references", "none");
  z.model_defaults(off, "cifar10-cnn");
  EXPECT_EQ(mlp.text("other_references"), "");
  EXPECT_EQ(mlp.canonical(), before);
  EXPECT_EQ(cnn.text("other_references"), "mnist-mlp");
  EXPECT_EQ(wrn.text("other_references"), "mnist-mlp");
  EXPECT_NE(cnn.canonical(), before);  // a mark with another null gets its own name and keys
  EXPECT_EQ(off.text("other_references"), "none");
  EXPECT_FALSE(adi_scheme().params().has("other_references"));  // the chance null needs no reference
  EXPECT_EQ(other_reference_models(" cifar10-cnn , wrn-16-4", "mnist-mlp"),
            (std::vector<std::string>{"cifar10-cnn", "wrn-16-4"}));
  EXPECT_TRUE(other_reference_models("none", "mnist-mlp").empty());
  EXPECT_THROW(other_reference_models("imdb-lstm", "mnist-mlp"), Error);   // token model
  EXPECT_THROW(other_reference_models("mnist-mlp", "mnist-mlp"), Error);   // the own one
  EXPECT_THROW(other_reference_models("cifar10-cnn,cifar10-cnn", "mnist-mlp"), Error);
  EXPECT_THROW(other_reference_models("cifar10-cnn,", "mnist-mlp"), Error);
  EXPECT_THROW(other_reference_models("lenet", "mnist-mlp"), Error);
  EXPECT_THROW(embed_with(zhang_noise_scheme(), {{"other_references", "mnist-mlp"}}, false), Error);
}

TEST(TriggerSetSchemes, AdiRandomLabelsHaveTheChanceNull) {
  Embedded e = embed_with(adi_scheme(), {{"keys", "30"}, {"key_repeat", "10"}}, false);
  EXPECT_DOUBLE_EQ(e.keys[0]->describe().at("null_rate").get<double>(), 0.1);
  const Evidence marked = ask(adi_scheme(), e.model, *e.keys[0]);
  EXPECT_TRUE(marked.claimed) << marked.text;
  // The same key seed draws the same trigger set.
  Embedded again = embed_with(adi_scheme(), {{"keys", "30"}, {"key_repeat", "10"}}, false);
  const Tensor a = e.keys[0]->to_file().at("trigger_inputs"), b = again.keys[0]->to_file().at("trigger_inputs");
  ASSERT_EQ(a.numel(), b.numel());
  for (int64_t i = 0; i < a.numel(); ++i) ASSERT_EQ(a.f32()[i], b.f32()[i]);
  EXPECT_FALSE(ask(adi_scheme(), trained_model(21), *e.keys[0]).claimed);
}

TEST(TriggerSetSchemes, FrontierStitchingNullIsMeasuredNotHalf) {
  if (!fashion_subset()) GTEST_SKIP() << "Fashion-MNIST is absent (apt-get install dataset-fashion-mnist)";
  g_data = fashion_subset();
  const Evidence e = check_scheme(frontier_stitching_scheme(),
                                  {{"keys", "100"}, {"key_repeat", "10"}, {"reference_epochs", "4"}}, true);
  g_data = nullptr;
  // The unmarked model gets exactly the false adversaries right, an independent one more: the
  // null is far above 1/2, and 1/2 (the paper's) would be unsound.
  EXPECT_GT(e.details.at("null_rate").get<double>(), 0.6);
}

TEST(TriggerSetSchemes, OptionErrors) {
  EXPECT_THROW(embed_with(zhang_content_scheme(), {{"source_class", "0"}, {"target_class", "0"}}, false), Error);
  EXPECT_THROW(embed_with(zhang_noise_scheme(), {{"target_class", "10"}}, false), Error);
  EXPECT_THROW(embed_with(zhang_content_scheme(), {{"pattern", tmp("no-logo.png")}}, false), Error);
  EXPECT_THROW(embed_with(zhang_content_scheme(), {{"pattern_x", "20"}}, false), Error);  // does not fit
  EXPECT_THROW(embed_with(zhang_unrelated_scheme(), {{"unrelated_dataset", "banded"}}, false), Error);
  EXPECT_THROW(embed_with(frontier_stitching_scheme(), {}, false), Error);  // needs a trained model
  EXPECT_THROW(embed_with(zhang_noise_scheme(), {{"keys", "300"}}, false), Error);  // 200 of class 1
  EXPECT_THROW(adi_scheme().params().set("keys", "0"), Error);
  EXPECT_THROW(frontier_stitching_scheme().params().set("eps", "2"), Error);
  EXPECT_THROW(adi_scheme().params().set("reference_epochs", "1"), Error);  // chance null: no reference
}

TEST(TriggerSetKeys, LoweredNullRateIsRefused) {
  Embedded e = embed_with(zhang_noise_scheme(), {{"keys", "20"}, {"key_repeat", "5"}}, false);
  NamedTensors nt = e.keys[0]->to_file();
  for (const auto& [k, v] : e.keys[0]->provenance) nt.metadata.emplace(k, v);
  nt.metadata["signet.null_rate"] = "0.01";
  const std::string path = tmp("lowered.wmk");
  write_keys_file(path, nt, kZhangNoise, normalization_of(train_set()));
  EXPECT_THROW(load_keys(path), Error);
  nt.metadata["signet.null_rate"] = e.keys[0]->to_file().metadata.at("signet.null_rate");
  nt.metadata["signet.null_kind"] = "chance";  // claiming random labels for one target class
  write_keys_file(path, nt, kZhangNoise, normalization_of(train_set()));
  EXPECT_THROW(load_keys(path), Error);
  fs::remove(path);
}
