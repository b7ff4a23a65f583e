// Permutation-robust extraction (watermark/deepsigns/align.h): the assignment solver against
// brute force and at scale, and the feature-permutation attack undone on a marked model.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <numeric>

#include "tests/watermark/banded_dataset.h"
#include "watermark/attacks/attacks.h"
#include "watermark/deepsigns/align.h"

using namespace signet;
namespace fs = std::filesystem;
using signet::test::banded;

namespace {
double total_cost(const Tensor& cost, const std::vector<int64_t>& assign) {
  double t = 0;
  const int64_t n = cost.size(0);
  for (int64_t i = 0; i < n; ++i) t += cost.f32()[i * n + assign[i]];
  return t;
}

bool is_permutation(std::vector<int64_t> p, int64_t n) {
  if (static_cast<int64_t>(p.size()) != n) return false;
  std::sort(p.begin(), p.end());
  for (int64_t i = 0; i < n; ++i)
    if (p[i] != i) return false;
  return true;
}

Tensor random_matrix(int64_t rows, int64_t cols, Rng& rng) {
  Tensor t = Tensor::empty({rows, cols});
  for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = static_cast<float>(rng.normal());
  return t;
}

// A marked mnist-mlp (16 bits in relu2) on the banded toy set, as in test_deepsigns_hidden.cpp.
struct Marked {
  Dataset train = banded(400, 2);
  Normalization norm{{0.2f}, {0.3f}};
  Model model;
  HiddenKeys keys;
};
const Marked& marked() {
  static const Marked* m = [] {
    auto* mk = new Marked;
    Rng init(5);
    mk->model = build_model("mnist-mlp", ModelConfig{}, init);
    HiddenConfig wc;
    wc.bits = 16;
    wc.key_fraction = 0.25;
    wc.lambda1 = 0.2f;
    wc.lambda2 = 1.0f;
    Rng krng(9);
    mk->keys = key_generation(mk->model, mk->train, mk->norm, wc, krng);
    TrainConfig cfg;
    cfg.epochs = 25;
    cfg.batch_size = 50;
    cfg.progress = false;
    embed_hidden(mk->model, mk->train, mk->norm, mk->keys, cfg);
    return mk;
  }();
  return *m;
}
}  // namespace

TEST(Align, OptimalAssignmentMatchesBruteForce) {
  Rng rng(11);
  for (int64_t n = 1; n <= 7; ++n)
    for (int trial = 0; trial < 20; ++trial) {
      Tensor cost = Tensor::empty({n, n});
      // Small integers give many ties, real values none: both must come out optimal.
      for (int64_t i = 0; i < n * n; ++i)
        cost.f32()[i] = trial % 2 ? static_cast<float>(rng.below(5)) : static_cast<float>(rng.uniform() * 10 - 3);
      const std::vector<int64_t> got = optimal_assignment(cost);
      ASSERT_TRUE(is_permutation(got, n));
      std::vector<int64_t> p(n);
      std::iota(p.begin(), p.end(), 0);
      double best = 1e300;
      do best = std::min(best, total_cost(cost, p));
      while (std::next_permutation(p.begin(), p.end()));
      EXPECT_NEAR(total_cost(cost, got), best, 1e-4) << "n=" << n << " trial " << trial;
    }
  EXPECT_TRUE(optimal_assignment(Tensor::zeros({0, 0})).empty());
  EXPECT_THROW(optimal_assignment(Tensor::zeros({2, 3})), Error);
  Tensor bad = Tensor::zeros({2, 2});
  bad.f32()[1] = INFINITY;
  EXPECT_THROW(optimal_assignment(bad), Error);
}

TEST(Align, RecoversAKnownPermutationOf512UnitsQuickly) {
  Rng rng(3);
  const int64_t K = 40, M = 512;
  const Tensor R = random_matrix(K, M, rng);
  std::vector<int64_t> perm(M);
  std::iota(perm.begin(), perm.end(), 0);
  rng.shuffle(perm);
  // Suspect column j = reference column perm[j], plus a little noise (a fine-tuned copy).
  Tensor S = Tensor::empty({K, M});
  for (int64_t k = 0; k < K; ++k)
    for (int64_t j = 0; j < M; ++j)
      S.f32()[k * M + j] = R.f32()[k * M + perm[j]] + 0.05f * static_cast<float>(rng.normal());
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<int64_t> got = align_units(R, S);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // got[j] = suspect column for reference column j: the one that holds reference column j.
  for (int64_t j = 0; j < M; ++j) ASSERT_EQ(perm[got[j]], j) << "reference column " << j;
  RecordProperty("align_512_seconds", std::to_string(seconds));
  EXPECT_LT(seconds, 2.0) << "the 512-unit assignment should take well under a second";
  EXPECT_THROW(align_units(R, Tensor::zeros({K, M - 1})), Error);
}

TEST(Align, PermutationScramblesThePlainExtractionAndAlignmentRestoresIt) {
  const Marked& mk = marked();
  ASSERT_EQ(extract_hidden(const_cast<Model&>(mk.model), mk.keys).ber, 0.0);
  ASSERT_TRUE(mk.keys.ref_activations.defined());
  EXPECT_EQ(mk.keys.ref_activations.shape(), (Shape{mk.keys.key_inputs.size(0), 512}));

  Model stolen = clone_model(mk.model);
  const PermuteReport rep = permute_units(stolen, {"relu2"}, 17);
  const HiddenEvidence plain = extract_hidden(stolen, mk.keys);
  EXPECT_GT(plain.ber, 0.2) << "the permutation should scramble the mark";
  EXPECT_GT(plain.p_value, 1e-2);
  std::vector<int64_t> align;
  const HiddenEvidence al = extract_hidden_aligned(stolen, mk.keys, mk.keys.ref_activations, &align);
  EXPECT_EQ(al.ber, 0.0);
  EXPECT_NEAR(al.p_value, std::ldexp(1.0, -16), 1e-12);
  // The alignment inverts the attack: every reference unit gets a suspect unit with the same
  // activations on the keys (units that are identical there, e.g. dead ones, may swap).
  const std::vector<int64_t>& perm = rep.perms[0];
  const Tensor S = get_activations(stolen, mk.keys.key_inputs, mk.keys.norm, "relu2");
  const Tensor& R = mk.keys.ref_activations;
  int64_t exact = 0, live = 0;
  for (int64_t j = 0; j < 512; ++j) {
    exact += perm[align[j]] == j;
    bool alive = false;
    for (int64_t k = 0; k < R.size(0); ++k) alive |= R.f32()[k * 512 + j] != 0;
    live += alive;
    // (equal up to the rounding of a GEMM over reordered rows)
    for (int64_t k = 0; k < R.size(0); ++k)
      ASSERT_NEAR(S.f32()[k * 512 + align[j]], R.f32()[k * 512 + j], 1e-4 * (1 + std::fabs(R.f32()[k * 512 + j]))) << j;
  }
  EXPECT_GT(live, 50);
  EXPECT_GE(exact, live * 9 / 10);  // live units have distinct activations: found where the attack put them

  // After a short fine-tuning on top of the permutation, the alignment still finds the mark.
  TrainConfig ft;
  ft.epochs = 1;
  ft.batch_size = 50;
  ft.lr = 0.005f;
  ft.schedule = "constant";
  ft.progress = false;
  finetune_attack(stolen, mk.train, mk.norm, ft);
  EXPECT_EQ(extract_hidden_aligned(stolen, mk.keys, mk.keys.ref_activations).ber, 0.0);
}

TEST(Align, AlignedBitsAreNotOwnershipEvidenceOnTheirOwn) {
  // Pins the integrity warning of align.h: aligning an unrelated model to the owner's reference
  // pulls the reference's class means, and so its signature, onto it. (If a better alignment
  // removes this, this test fails: update the warning in align.h, the README and the CLI.)
  const Marked& mk = marked();
  Model copy = clone_model(mk.model);
  permute_units(copy, {}, 4);
  const AlignedExtraction of_copy = align_and_extract(copy, mk.keys, mk.keys.ref_activations);
  EXPECT_EQ(of_copy.evidence.ber, 0.0);
  EXPECT_LT(of_copy.residual, 1e-10);
  EXPECT_EQ(of_copy.units, 512);
  int64_t pulled = 0;
  for (uint64_t seed : {21, 22, 23}) {
    Rng init(seed);
    Model other = build_model("mnist-mlp", ModelConfig{}, init);
    TrainConfig cfg;
    cfg.epochs = 5;
    cfg.batch_size = 50;
    cfg.seed = seed;
    cfg.progress = false;
    train_model(other, mk.train, mk.norm, cfg);
    const HiddenEvidence plain = extract_hidden(other, mk.keys);
    const AlignedExtraction al = align_and_extract(other, mk.keys, mk.keys.ref_activations);
    EXPECT_GT(plain.p_value, 1e-3) << "seed " << seed << ": the plain extraction keeps its integrity";
    pulled += al.evidence.ber < 0.25;
    EXPECT_GT(al.residual, 100 * of_copy.residual + 0.01) << "seed " << seed;
  }
  EXPECT_GE(pulled, 2) << "unrelated models were expected to show the reference's bits after alignment";
}

TEST(Align, ConvolutionalTapsAlignByChannel) {
  // No embedding needed: the extracted bits of any model under any keys must survive
  // permutation + alignment exactly, here on a Conv2d tap (units = channels of H*W positions).
  const Dataset train = banded(100, 4);
  const Normalization norm{{0.2f}, {0.3f}};
  ModelConfig mc;
  mc.input_shape = {1, 28, 28};
  Rng init(8);
  Model model = build_model("cifar10-cnn", mc, init);
  const std::vector<std::pair<std::string, size_t>> layers = {{"features.3", 32}, {"features.8", 64}, {"classifier.2", 512}};
  for (const auto& [layer, units] : layers) {
    HiddenConfig wc;
    wc.layer = layer;
    wc.bits = 24;
    wc.key_fraction = 0.5;
    Rng krng(2);
    const HiddenKeys keys = key_generation(model, train, norm, wc, krng);
    const Tensor ref = get_activations(model, keys.key_inputs, norm, layer);
    const HiddenEvidence original = extract_hidden(model, keys);
    Model stolen = clone_model(model);
    const PermuteReport rep = permute_units(stolen, {}, 5);
    EXPECT_EQ(rep.taps.size(), 5u);
    std::vector<int64_t> align;
    const HiddenEvidence al = extract_hidden_aligned(stolen, keys, ref, &align);
    EXPECT_EQ(al.extracted, original.extracted) << layer;
    EXPECT_EQ(align.size(), units) << layer;
  }
}

TEST(Align, ReferenceActivationsRoundTripThroughTheKeysFile) {
  const Marked& mk = marked();
  const std::string path = (fs::temp_directory_path() / ("signet_align_" + std::to_string(getpid()) + ".wmk")).string();
  save_hidden_keys(path, mk.keys);
  const HiddenKeys back = load_hidden_keys(path);
  ASSERT_TRUE(back.ref_activations.defined());
  EXPECT_EQ(back.ref_activations.to_vector(), mk.keys.ref_activations.to_vector());
  // Keys files written before the reference was stored still load, without it.
  HiddenKeys old = mk.keys;
  old.ref_activations = Tensor();
  save_hidden_keys(path, old);
  EXPECT_FALSE(load_hidden_keys(path).ref_activations.defined());
  // A reference of the wrong shape is refused, naming the file.
  old.ref_activations = Tensor::zeros({3, 7});
  save_hidden_keys(path, old);
  try {
    load_hidden_keys(path);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("ref_activations"), std::string::npos) << e.what();
  }
  fs::remove(path);
}
