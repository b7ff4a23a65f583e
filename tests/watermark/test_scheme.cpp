// The Scheme registry, scheme options, key randomness and the one keys-file format.
#include <gtest/gtest.h>

#include <array>
#include "watermark/verify/key_rng.h"
#include <unistd.h>

#include <filesystem>

#include "models/registry.h"
#include "tests/watermark/banded_dataset.h"
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

// deepsigns-hidden's loss weights default per architecture: the CNN needs 0.1, where a single
// default of 0.01 left its mark unread; a value the user gives is kept.
TEST(SchemeOptions, LossWeightsDefaultPerModelUnlessGiven) {
  const Scheme& s = find_scheme("deepsigns-hidden");
  SchemeParams cnn = s.params(), mlp = s.params(), given = s.params();
  s.model_defaults(cnn, "cifar10-cnn");
  s.model_defaults(mlp, "mnist-mlp");
  EXPECT_DOUBLE_EQ(cnn.real("lambda1"), 0.1);
  EXPECT_DOUBLE_EQ(cnn.real("lambda2"), 0.1);
  EXPECT_DOUBLE_EQ(mlp.real("lambda1"), 0.01);
  EXPECT_DOUBLE_EQ(mlp.real("lambda2"), 0.01);
  given.set("lambda2", "0.01");
  s.model_defaults(given, "cifar10-cnn");
  EXPECT_DOUBLE_EQ(given.real("lambda1"), 0.1);
  EXPECT_DOUBLE_EQ(given.real("lambda2"), 0.01);
  EXPECT_NE(s.params().canonical(), cnn.canonical());  // cache names and key domains tell them apart
  SchemeParams wrn = s.params();
  s.model_defaults(wrn, "wrn-16-4");
  EXPECT_DOUBLE_EQ(wrn.real("lambda1"), 0.01);
  EXPECT_DOUBLE_EQ(wrn.real("lambda2"), 0.1);
  SchemeParams r50 = s.params();
  s.model_defaults(r50, "resnet50");
  EXPECT_DOUBLE_EQ(r50.real("lambda1"), 0.001);
  EXPECT_DOUBLE_EQ(r50.real("lambda2"), 0.3);
  SchemeParams lstm = s.params();
  s.model_defaults(lstm, "imdb-lstm");
  EXPECT_DOUBLE_EQ(lstm.real("lambda1"), 0.03);
}

TEST(SchemeRegistry, ListsEverySchemeAndFindsThemByName) {
  ASSERT_GE(all_schemes().size(), 2u);
  for (const Scheme* s : all_schemes()) {
    const SchemeInfo& i = s->info();
    EXPECT_EQ(&find_scheme(i.name), s);
    EXPECT_TRUE(i.white_box || i.black_box) << i.name;
    EXPECT_FALSE(i.null_hypothesis.empty()) << i.name;
    EXPECT_TRUE(s->params().has(i.size_option)) << i.name << " sweeps an option it does not declare";
    EXPECT_GT(i.default_alpha, 0);
  }
  const std::string msg = error_of([] { find_scheme("uchida-v0"); });
  EXPECT_NE(msg.find("uchida-v0"), std::string::npos) << msg;
  EXPECT_NE(msg.find(scheme_names()), std::string::npos) << msg;
}

TEST(SchemeParams, DefaultsChecksAndCanonicalForm) {
  SchemeParams p = find_scheme("deepsigns-hidden").params();
  EXPECT_EQ(p.integer("bits"), 32);
  EXPECT_FALSE(p.given("bits"));
  p.set("bits", "64", "--bits");
  EXPECT_TRUE(p.given("bits"));
  EXPECT_EQ(p.integer("bits"), 64);
  EXPECT_NE(error_of([&] { p.set("bits", "0", "--bits"); }).find("--bits must be between 1"), std::string::npos);
  EXPECT_NE(error_of([&] { p.set("bits", "3.5", "--bits"); }).find("whole number"), std::string::npos);
  EXPECT_NE(error_of([&] { p.set("lambda1", "nan"); }).find("lambda1"), std::string::npos);
  EXPECT_NE(error_of([&] { p.set("keys", "20"); }).find("has no option 'keys'"), std::string::npos);
  SchemeParams o = find_scheme("deepsigns-output").params();
  EXPECT_NE(error_of([&] { o.set("key_search", "pdf", "--key-search"); }).find("--key-search 'pdf' is not one of"),
            std::string::npos);
  SchemeParams q = find_scheme("deepsigns-hidden").params();
  q.set("bits", "64");
  EXPECT_EQ(p.canonical(), q.canonical());
  q.set("signature", "ACME");
  EXPECT_NE(p.canonical(), q.canonical());
}

TEST(KeyRandomness, OsKeysDifferAndKeySeedsAreReproduciblePerDomain) {
  KeyRandomness os;
  EXPECT_NE(os.make().next_u64(), os.make().next_u64());
  KeyRandomness a{uint64_t{7}, "grid"}, b{uint64_t{7}, "grid"}, c{uint64_t{8}, "grid"};
  EXPECT_EQ(a.make().next_u64(), b.make().next_u64());
  EXPECT_NE(a.make().next_u64(), c.make().next_u64());
  EXPECT_NE(a.under("mnist-mlp").make().next_u64(), a.under("cifar10-cnn").make().next_u64());
  // Not the training generator of the same number.
  EXPECT_NE(a.make().next_u64(), Rng(7).next_u64());
  std::map<std::string, std::string> meta;
  a.record(meta);
  EXPECT_EQ(meta.at("signet.key_source"), "key-seed");
  EXPECT_EQ(meta.at("signet.key_seed"), "7");
  os.record(meta);
  EXPECT_EQ(meta.at("signet.key_source"), "os-csprng");
  EXPECT_EQ(meta.count("signet.key_seed"), 0u);
}

// Data-parallel embedding: ranks sharing rank 0's secret make the same keys per domain; another
// secret makes others; the keys file says os-csprng (the secret never leaves the job).
TEST(KeyRandomness, JobSecretGivesEveryRankTheSameKeysPerDomain) {
  std::array<unsigned char, 32> s1{}, s2{};
  os_random_bytes(s1.data(), s1.size());
  os_random_bytes(s2.data(), s2.size());
  KeyRandomness rank0, rank1, other;
  rank0.job_secret = s1;
  rank1.job_secret = s1;
  other.job_secret = s2;
  EXPECT_EQ(rank0.under("uchida").make().state(), rank1.under("uchida").make().state());
  EXPECT_NE(rank0.under("uchida").make().state(), rank0.under("gradsigns").make().state());
  EXPECT_NE(rank0.under("uchida").make().state(), other.under("uchida").make().state());
  std::map<std::string, std::string> meta;
  rank0.record(meta);
  EXPECT_EQ(meta.at("signet.key_source"), "os-csprng");
  EXPECT_EQ(meta.count("signet.key_seed"), 0u);
}

TEST(SchemeKeysFile, EmbedSaveLoadAndExtractThroughTheRegistry) {
  const Dataset train = test::banded(400, 3), test_set = test::banded(100, 4);
  ModelConfig mc;
  mc.num_classes = 10;
  mc.input_shape = {1, 28, 28};
  Rng init(1);
  const Scheme& s = find_scheme("deepsigns-hidden");
  SchemeParams p = s.params();
  p.set("bits", "24");
  p.set("key_fraction", "0.25");
  p.set("lambda1", "0.2");
  p.set("lambda2", "1");
  TrainConfig cfg;
  cfg.epochs = 15;
  cfg.progress = false;
  const KeyRandomness keys{uint64_t{42}, "test"};  // reproducible: the mark is checked exactly
  EmbedJob job{build_model("mnist-mlp", mc, init), Normalization{}, false, &train, &test_set, cfg, p, keys, nullptr};
  Embedded e = s.embed(std::move(job));
  ASSERT_EQ(e.keys.size(), 1u);
  EXPECT_EQ(e.keys[0]->layer(), "relu2");
  EXPECT_EQ(e.keys[0]->provenance.at("signet.key_source"), "key-seed");
  // The separation cap's reach at the end: one chosen class against the 9 others.
  EXPECT_EQ(e.report.at("separation_pairs").get<int64_t>(), 9);
  const int64_t capped = e.report.at("separation_capped_pairs").get<int64_t>();
  EXPECT_GE(capped, 0);
  EXPECT_LE(capped, 9);
  EXPECT_GT(e.report.at("separation_margin").get<double>(), 0);
  const std::string path =
      (std::filesystem::temp_directory_path() / ("signet_scheme_" + std::to_string(getpid()) + ".wmk")).string();
  const std::string sha = save_keys(path, *e.keys[0]);
  const LoadedKeys lk = load_keys(path);
  std::filesystem::remove(path);
  EXPECT_EQ(lk.scheme, &s);
  EXPECT_EQ(lk.sha256, sha);
  EXPECT_EQ(lk.keys->size(), 24);
  const Evidence ev = s.extract(e.model, e.norm, *lk.keys, s.default_alpha(*lk.keys));
  EXPECT_EQ(ev.metric, "ber");
  EXPECT_EQ(ev.value, 0.0) << ev.text;
  EXPECT_TRUE(ev.claimed);
  // White-box only: no black-box query.
  LocalModelOracle oracle(e.model, e.norm, "m");
  EXPECT_NE(error_of([&] { s.query(oracle, *lk.keys, 1e-6); }).find("white-box only"), std::string::npos);
}

}  // namespace
}  // namespace signet
