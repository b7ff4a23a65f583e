// DeepSigns hidden-layer scheme: signature derivation, key generation, keys file, and a small
// end-to-end embed/extract on a synthetic set (the Fashion-MNIST acceptance run is slow_*).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "tests/engine/gradcheck.h"
#include "tests/watermark/banded_dataset.h"
#include "watermark/deepsigns/hidden.h"

using namespace signet;
namespace fs = std::filesystem;
using signet::test::banded;

namespace {
std::string tmp(const std::string& name) {
  return (fs::temp_directory_path() / ("signet_wm_" + std::to_string(getpid()) + "_" + name)).string();
}
}  // namespace

TEST(DeepSignsHidden, SignatureFromOwnerIsTheSha256Bits) {
  // SHA-256("abc") = ba7816bf...: b = 1011, a = 1010, 7 = 0111, 8 = 1000
  const auto bits = signature_from_owner("abc", 16);
  EXPECT_EQ(bits, (std::vector<int>{1, 0, 1, 1, 1, 0, 1, 0, 0, 1, 1, 1, 1, 0, 0, 0}));
  const auto longer = signature_from_owner("abc", 300);  // extends past 256 bits
  EXPECT_EQ(longer.size(), 300u);
  EXPECT_EQ(std::vector<int>(longer.begin(), longer.begin() + 16), bits);
  EXPECT_THROW(signature_from_owner("", 8), Error);
}

TEST(DeepSignsHidden, SubsampleTakesTheFractionOfTheChosenClasses) {
  const Dataset d = banded(1000, 1);
  Rng rng(3);
  const auto idx = subsample_training_data(d, {2, 5}, 0.1, rng);
  EXPECT_EQ(idx.size(), 20u);
  for (int64_t i : idx) EXPECT_TRUE(d.labels.i64()[i] == 2 || d.labels.i64()[i] == 5);
}

TEST(DeepSignsHidden, EmbedThenExtractRecoversTheSignatureAndTheKeysFileRoundTrips) {
  const Dataset train = banded(400, 2);
  const Normalization norm{{0.2f}, {0.3f}};
  Rng init(5);
  Model model = build_model("mnist-mlp", ModelConfig{}, init);
  HiddenConfig wc;
  wc.layer = "relu2";
  wc.bits = 16;
  wc.key_fraction = 0.25;
  wc.lambda1 = 0.2f;
  wc.lambda2 = 1.0f;
  wc.owner = "ACME Corp 2026";
  Rng krng(9);
  HiddenKeys keys = key_generation(model, train, norm, wc, krng);
  EXPECT_EQ(keys.A.shape(), (Shape{512, 16}));
  EXPECT_EQ(keys.key_inputs.size(0), 10);
  TrainConfig cfg;
  cfg.epochs = 25;
  cfg.batch_size = 50;
  cfg.lr = 0.05f;
  cfg.progress = false;
  embed_hidden(model, train, norm, keys, cfg);
  const HiddenEvidence ev = extract_hidden(model, keys);
  EXPECT_EQ(ev.ber, 0.0);
  EXPECT_NEAR(ev.p_value, std::ldexp(1.0, -16), 1e-12);

  // A fresh (unmarked) model of the same architecture does not carry the signature.
  Rng other(77);
  Model unmarked = build_model("mnist-mlp", ModelConfig{}, other);
  EXPECT_GT(extract_hidden(unmarked, keys).p_value, 1e-3);

  const std::string path = tmp("keys.wmk");
  std::string sha;
  const std::string written = save_hidden_keys(path, keys);
  struct stat st{};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const HiddenKeys back = load_hidden_keys(path, &sha);
  EXPECT_EQ(sha, written);
  EXPECT_EQ(back.classes, keys.classes);
  EXPECT_EQ(back.layer, "relu2");
  EXPECT_EQ(back.owner, "ACME Corp 2026");
  EXPECT_EQ(back.A.to_vector(), keys.A.to_vector());
  EXPECT_EQ(extract_hidden(model, back).ber, 0.0);
  fs::remove(path);
}

TEST(DeepSignsHidden, KeysFileErrorsNameTheFile) {
  const std::string path = tmp("notkeys.safetensors");
  NamedTensors nt;
  nt.tensors.emplace_back("x", Tensor::zeros({1}));
  save_safetensors(path, nt);
  try {
    load_hidden_keys(path);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  fs::remove(path);
}

TEST(DeepSignsHidden, TwoLayersAtOnceEachWithItsOwnKeys) {
  const Dataset train = banded(400, 4);
  const Normalization norm{{0.2f}, {0.3f}};
  Rng init(6);
  Model model = build_model("mnist-mlp", ModelConfig{}, init);
  HiddenConfig c1, c2;
  c1.layer = "relu1";
  c2.layer = "relu2";
  for (HiddenConfig* c : {&c1, &c2}) {
    c->bits = 12;
    c->key_fraction = 0.25;
    // Moderate strengths: 0.2 / 1.0 (as in the one-layer test) kill relu1's units on this toy
    // set before the mark forms; dead ReLU units carry no bits.
    c->lambda1 = 0.01f;
    c->lambda2 = 0.1f;
  }
  Rng r1(1), r2(2);
  HiddenKeys k1 = key_generation(model, train, norm, c1, r1);
  HiddenKeys k2 = key_generation(model, train, norm, c2, r2);
  TrainConfig cfg;
  cfg.epochs = 25;
  cfg.batch_size = 50;
  cfg.progress = false;
  embed_hidden(model, train, norm, std::vector<HiddenKeys*>{&k1, &k2}, cfg);
  EXPECT_EQ(extract_hidden(model, k1).ber, 0.0);
  EXPECT_EQ(extract_hidden(model, k2).ber, 0.0);
  EXPECT_GT(k1.margin, 0.0f);
  HiddenKeys dup = k1;
  EXPECT_THROW(embed_hidden(model, train, norm, std::vector<HiddenKeys*>{&k1, &dup}, cfg), Error);
}
