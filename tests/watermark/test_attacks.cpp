// Removal attacks (watermark/attacks/attacks.h) on small models and the banded toy set: each
// attack does exactly what it says (pruned counts, quantization levels and error, permutations
// that keep the function), and the overwriting attacker's own mark is in the attacked model.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "engine/ops.h"
#include "layers/conv_layers.h"
#include "layers/layers.h"
#include "tests/watermark/banded_dataset.h"
#include "watermark/attacks/attacks.h"

using namespace signet;
using signet::test::banded;

namespace {
Model mlp(uint64_t seed = 1) {
  Rng init(seed);
  return build_model("mnist-mlp", ModelConfig{}, init);
}

std::map<std::string, std::vector<float>> snapshot(const Model& m) {
  std::map<std::string, std::vector<float>> out;
  for (const auto& [n, t] : m.net->named_parameters()) out[n] = t.to_vector();
  for (const auto& [n, t] : m.net->named_buffers())
    if (t.dtype() == DType::F32) out[n] = t.to_vector();
  return out;
}

Tensor random_inputs(const Shape& per_sample, int64_t n, uint64_t seed) {
  Shape s{n};
  s.insert(s.end(), per_sample.begin(), per_sample.end());
  Tensor x = Tensor::empty(s);
  Rng rng(seed);
  for (int64_t i = 0; i < x.numel(); ++i) x.f32()[i] = static_cast<float>(rng.normal());
  return x;
}

Tensor logits_of(Model& m, const Tensor& x) {
  NoGradGuard ng;
  m.net->eval();
  return m(x).contiguous();
}

// |a - b| <= atol + rtol |b| everywhere (float sums in another order differ in the last bits).
void expect_close(const Tensor& a, const Tensor& b, double rtol, const std::string& what, double atol = 1e-5) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  double worst = 0;
  int64_t at = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double excess = std::fabs(double(a.f32()[i]) - b.f32()[i]) - (atol + rtol * std::fabs(double(b.f32()[i])));
    if (excess > worst) worst = excess, at = i;
  }
  EXPECT_EQ(worst, 0.0) << what << ": worst at " << at << ": " << a.f32()[at] << " vs " << b.f32()[at];
}

TrainConfig quick(int64_t epochs = 1) {
  TrainConfig c;
  c.epochs = epochs;
  c.batch_size = 50;
  c.lr = 0.01f;
  c.schedule = "constant";
  c.progress = false;
  return c;
}
}  // namespace

TEST(Attacks, CloneIsADeepCopy) {
  Model a = mlp();
  Model b = clone_model(a);
  EXPECT_EQ(snapshot(a), snapshot(b));
  b.net->named_parameters()[0].second.f32()[0] += 1.0f;
  EXPECT_NE(snapshot(a), snapshot(b));
  EXPECT_EQ(b.name, a.name);
}

TEST(Attacks, LayerWeightsAreTheLinearAndConvWeights) {
  Model m = mlp();
  std::vector<std::string> names;
  for (const auto& [n, t] : layer_weights(m)) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"fc1.weight", "fc2.weight", "fc3.weight"}));
}

TEST(Attacks, PruningZeroesExactlyTheSmallestFractionPerTensorAndSparseFinetuneKeepsThemZero) {
  const Dataset train = banded(200, 1);
  const Normalization norm{{0.2f}, {0.3f}};
  Model m = mlp();
  const auto before = snapshot(m);
  const PruneReport rep = prune_magnitude(m, 0.3);
  ASSERT_EQ(rep.masks.size(), 3u);
  std::map<std::string, Tensor> params;
  for (const auto& [n, t] : m.net->named_parameters()) params[n] = t;
  for (const PruneMask& mask : rep.masks) {
    const std::vector<float>& old = before.at(mask.param);
    const int64_t n = static_cast<int64_t>(old.size());
    EXPECT_EQ(mask.total, n);
    EXPECT_EQ(mask.pruned, std::llround(0.3 * n)) << mask.param;
    const std::vector<float> now = params.at(mask.param).to_vector(), keep = mask.keep.to_vector();
    int64_t zeros = 0;
    float largest_pruned = 0, smallest_kept = INFINITY;
    for (int64_t i = 0; i < n; ++i) {
      if (keep[i] == 0) {
        ++zeros;
        EXPECT_EQ(now[i], 0.0f);
        largest_pruned = std::max(largest_pruned, std::fabs(old[i]));
      } else {
        EXPECT_EQ(now[i], old[i]);  // kept weights are untouched
        smallest_kept = std::min(smallest_kept, std::fabs(old[i]));
      }
    }
    EXPECT_EQ(zeros, mask.pruned);
    EXPECT_LE(largest_pruned, smallest_kept) << mask.param << ": pruning must take the smallest magnitudes";
  }
  EXPECT_EQ(rep.pruned, rep.masks[0].pruned + rep.masks[1].pruned + rep.masks[2].pruned);
  EXPECT_NEAR(rep.fraction(), 0.3, 1e-4);
  for (const char* bias : {"fc1.bias", "fc2.bias", "fc3.bias"}) EXPECT_EQ(params.at(bias).to_vector(), before.at(bias));

  const auto pruned = snapshot(m);
  sparse_finetune(m, rep, train, norm, quick(2));
  const auto after = snapshot(m);
  for (const PruneMask& mask : rep.masks) {
    const std::vector<float> now = after.at(mask.param), keep = mask.keep.to_vector();
    int64_t moved = 0;
    for (size_t i = 0; i < now.size(); ++i) {
      if (keep[i] == 0) EXPECT_EQ(now[i], 0.0f) << mask.param << "[" << i << "] came back";
      moved += now[i] != pruned.at(mask.param)[i];
    }
    EXPECT_GT(moved, 0) << mask.param << ": the kept weights should have been trained";
  }

  // The edges: nothing and everything; out of range is an Error.
  Model m0 = mlp(2);
  EXPECT_EQ(prune_magnitude(m0, 0.0).pruned, 0);
  const PruneReport all = prune_magnitude(m0, 1.0);
  EXPECT_EQ(all.pruned, all.total);
  for (const auto& [n, t] : layer_weights(m0))
    for (float v : t.to_vector()) EXPECT_EQ(v, 0.0f);
  EXPECT_THROW(prune_magnitude(m0, 1.5), Error);
  EXPECT_THROW(prune_magnitude(m0, -0.1), Error);
}

TEST(Attacks, QuantizationUsesAtMostTwoToTheBitsLevelsWithinHalfAStep) {
  for (int bits : {1, 2, 4, 8}) {
    Model m = mlp(3);
    const auto before = snapshot(m);
    const QuantizeReport rep = quantize_weights(m, bits);
    EXPECT_EQ(rep.bits, bits);
    EXPECT_EQ(rep.tensors, 3);
    double worst_step = 0;
    for (const auto& [name, t] : layer_weights(m)) {
      const std::vector<float>& old = before.at(name);
      const std::vector<float> now = t.to_vector();
      const auto [lo, hi] = std::minmax_element(old.begin(), old.end());
      const double step = (double(*hi) - *lo) / (std::ldexp(1.0, bits) - 1);
      worst_step = std::max(worst_step, step);
      const std::set<float> distinct(now.begin(), now.end());
      EXPECT_LE(distinct.size(), size_t(1) << bits) << name << " at " << bits << " bits";
      EXPECT_GE(distinct.size(), std::min<size_t>(size_t(1) << bits, 2)) << name;
      EXPECT_EQ(*std::min_element(now.begin(), now.end()), *lo) << name;  // the range is kept
      for (size_t i = 0; i < now.size(); ++i)
        ASSERT_LE(std::fabs(double(now[i]) - old[i]), step / 2 * (1 + 1e-5) + 1e-7) << name << "[" << i << "]";
    }
    EXPECT_LE(rep.max_abs_error, worst_step / 2 * (1 + 1e-5) + 1e-7);
    EXPECT_GT(rep.max_abs_error, 0.0);
    for (const char* bias : {"fc1.bias", "fc2.bias", "fc3.bias"}) EXPECT_EQ(snapshot(m).at(bias), before.at(bias));
  }
  Model m = mlp();
  EXPECT_THROW(quantize_weights(m, 0), Error);
  EXPECT_THROW(quantize_weights(m, 17), Error);
}

TEST(Attacks, PermutingMlpUnitsKeepsTheLogitsAndMovesTheWeights) {
  const Tensor x = random_inputs({1, 28, 28}, 16, 4);
  for (const std::vector<std::string>& taps :
       {std::vector<std::string>{}, std::vector<std::string>{"relu1"}, std::vector<std::string>{"relu2"}}) {
    Model original = mlp(4);
    Model m = clone_model(original);
    const PermuteReport rep = permute_units(m, taps, 9);
    const std::vector<std::string> want = taps.empty() ? std::vector<std::string>{"relu1", "relu2"} : taps;
    EXPECT_EQ(rep.taps, want);
    expect_close(logits_of(m, x), logits_of(original, x), 1e-5, "mnist-mlp " + fmt::format("{}", fmt::join(taps, ",")));
    // Producer rows moved exactly as the report says: new row j = old row perm[j].
    const std::string producer = rep.taps[0] == "relu1" ? "fc1" : "fc2";
    const std::vector<int64_t>& perm = rep.perms[0];
    const auto o = snapshot(original), p = snapshot(m);
    const std::vector<float>&W0 = o.at(producer + ".weight"), &W1 = p.at(producer + ".weight");
    const size_t in = W0.size() / 512;
    int64_t fixed = 0;
    for (size_t j = 0; j < 512; ++j) {
      fixed += perm[j] == static_cast<int64_t>(j);
      for (size_t i = 0; i < in; i += 97) ASSERT_EQ(W1[j * in + i], W0[perm[j] * in + i]);
      ASSERT_EQ(p.at(producer + ".bias")[j], o.at(producer + ".bias")[perm[j]]);
    }
    EXPECT_LT(fixed, 20);
    EXPECT_NE(o.at("fc2.weight"), p.at("fc2.weight"));
  }
  Model m = mlp();
  try {
    permute_units(m, {"relu3"}, 1);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("relu1, relu2"), std::string::npos) << e.what();
  }
  // Producers' names pick the same layer.
  EXPECT_EQ(permute_units(m, {"fc2"}, 1).taps, std::vector<std::string>{"relu2"});
}

TEST(Attacks, PermutingCnnUnitsKeepsTheLogitsForEveryTap) {
  ModelConfig mc;
  mc.input_shape = {3, 12, 12};
  mc.dropout = 0.25f;  // the dropouts sit between producers and consumers (identity in eval)
  Rng init(6);
  Model original = build_model("cifar10-cnn", mc, init);
  const Tensor x = random_inputs({3, 12, 12}, 8, 5);
  const Tensor want = logits_of(original, x);
  const std::vector<std::string> all = {"features.1", "features.3", "features.6", "features.8", "classifier.2"};
  for (const std::string& tap : all) {
    Model m = clone_model(original);
    const PermuteReport rep = permute_units(m, {tap}, 3);
    ASSERT_EQ(rep.taps, std::vector<std::string>{tap});
    expect_close(logits_of(m, x), want, 1e-5, tap);
    // The tap's activation is the original's with its units reordered: channel j = old perm[j].
    Taps t0, t1;
    t0.wanted.insert(tap);
    t1.wanted.insert(tap);
    {
      NoGradGuard ng;
      original(x, &t0);
      m(x, &t1);
    }
    const Tensor a0 = t0.require(tap).contiguous(), a1 = t1.require(tap).contiguous();
    const int64_t units = a0.size(1), per = a0.numel() / (a0.size(0) * units);
    const std::vector<int64_t>& perm = rep.perms[0];
    for (int64_t n = 0; n < a0.size(0); ++n)
      for (int64_t j = 0; j < units; ++j)
        for (int64_t q = 0; q < per; ++q) {
          const float want_v = a0.f32()[(n * units + perm[j]) * per + q];
          ASSERT_NEAR(a1.f32()[(n * units + j) * per + q], want_v, 1e-5 * (1 + std::fabs(want_v))) << tap;
        }
    EXPECT_NE(snapshot(m), snapshot(original)) << tap;
  }
  Model m = clone_model(original);
  const PermuteReport rep = permute_units(m, {}, 8);
  EXPECT_EQ(rep.taps, all);
  expect_close(logits_of(m, x), want, 1e-5, "all taps");
  // The flatten -> Linear block mapping: classifier.1's inputs moved in blocks of 3*3 positions.
  EXPECT_EQ(rep.perms[3].size(), 64u);
}

TEST(Attacks, PermutingMovesBatchNormStatisticsToo) {
  // A hand-built chain with BatchNorm (no registered model has one between its layers).
  Rng init(2);
  auto net = std::make_shared<Sequential>("Chain");
  net->add("conv", std::make_shared<Conv2d>(2, 6, 3, 1, 1, true, init));
  net->add("bn", std::make_shared<BatchNorm2d>(6));
  net->add("relu", std::make_shared<ReLU>());
  net->add("pool", std::make_shared<GlobalAvgPool>());
  net->add("fc1", std::make_shared<Linear>(6, 5, true, init));
  net->add("bn1", std::make_shared<BatchNorm1d>(5));
  net->add("relu1", std::make_shared<ReLU>());
  net->add("fc2", std::make_shared<Linear>(5, 3, true, init));
  net->assign_paths("");
  Model original{"chain", ModelConfig{}, net};
  // Non-trivial BatchNorm parameters and running statistics.
  Rng r(4);
  for (const auto& [n, t] : original.net->named_parameters())
    if (n.rfind("bn", 0) == 0)
      for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = 0.5f + static_cast<float>(r.uniform());
  for (const auto& [n, t] : original.net->named_buffers())
    if (t.dtype() == DType::F32)
      for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = 0.2f + static_cast<float>(r.uniform());
  Rng init2(0);
  Model copy{"chain", ModelConfig{}, nullptr};
  {  // clone_model needs a registered name: copy by hand
    auto net2 = std::make_shared<Sequential>("Chain");
    net2->add("conv", std::make_shared<Conv2d>(2, 6, 3, 1, 1, true, init2));
    net2->add("bn", std::make_shared<BatchNorm2d>(6));
    net2->add("relu", std::make_shared<ReLU>());
    net2->add("pool", std::make_shared<GlobalAvgPool>());
    net2->add("fc1", std::make_shared<Linear>(6, 5, true, init2));
    net2->add("bn1", std::make_shared<BatchNorm1d>(5));
    net2->add("relu1", std::make_shared<ReLU>());
    net2->add("fc2", std::make_shared<Linear>(5, 3, true, init2));
    net2->assign_paths("");
    load_state_dict(*net2, state_dict(*original.net), "test");
    copy.net = net2;
  }
  const Tensor x = random_inputs({2, 5, 5}, 6, 1);
  const PermuteReport rep = permute_units(copy, {}, 11);
  EXPECT_EQ(rep.taps, (std::vector<std::string>{"relu", "relu1"}));
  expect_close(logits_of(copy, x), logits_of(original, x), 1e-5, "conv-bn chain");
  const auto o = snapshot(original), p = snapshot(copy);
  for (int64_t j = 0; j < 6; ++j) {
    EXPECT_EQ(p.at("bn.running_mean")[j], o.at("bn.running_mean")[rep.perms[0][j]]);
    EXPECT_EQ(p.at("bn.weight")[j], o.at("bn.weight")[rep.perms[0][j]]);
  }
}

TEST(Attacks, PermutingRefusesModelsThatAreNotAChain) {
  const auto names = model_names();
  if (std::find(names.begin(), names.end(), "wrn-16-4") == names.end()) GTEST_SKIP() << "no wrn in this build";
  ModelConfig mc;
  mc.input_shape = {3, 8, 8};
  Rng init(1);
  Model wrn = build_model("wrn-16-1", mc, init);
  try {
    permute_units(wrn, {}, 1);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("wrn-16-1"), std::string::npos) << e.what();
  }
}

TEST(Attacks, FinetuneTrainsWithoutTheWatermarkLoss) {
  const Dataset train = banded(100, 3);
  Model m = mlp(5);
  const auto before = snapshot(m);
  TrainConfig cfg = quick();
  bool called = false;
  cfg.taps = {"relu2"};
  cfg.extra_loss = [&called](const Batch&, const Tensor&, const Taps&) {
    called = true;
    return Tensor();
  };
  const TrainResult r = finetune_attack(m, train, Normalization{{0.2f}, {0.3f}}, cfg);
  EXPECT_FALSE(called);
  EXPECT_EQ(r.epochs_run, 1);
  EXPECT_NE(snapshot(m), before);
}

TEST(Attacks, OverwritingEmbedsTheAttackersOwnHiddenMark) {
  const Dataset train = banded(400, 7);
  const Normalization norm{{0.2f}, {0.3f}};
  Model m = mlp(7);
  train_model(m, train, norm, quick(3));  // a trained "stolen" model
  HiddenConfig attacker;
  attacker.bits = 16;
  attacker.key_fraction = 0.25;
  attacker.lambda1 = 0.2f;
  attacker.lambda2 = 1.0f;
  TrainConfig cfg = quick(15);
  Rng key_rng(42 ^ 0x6B657973ULL);  // the stream these settings were tuned with
  const HiddenKeys keys = overwrite_attack(m, train, norm, attacker, cfg, key_rng);
  EXPECT_EQ(keys.layer, "relu2");
  EXPECT_TRUE(keys.mu.defined());
  EXPECT_TRUE(keys.ref_activations.defined());
  const HiddenEvidence ev = extract_hidden(m, keys);
  EXPECT_EQ(ev.ber, 0.0);
  // Another key stream gives other keys.
  Rng k2(43);
  EXPECT_NE(key_generation(m, train, norm, attacker, k2).A.to_vector(), keys.A.to_vector());
}

TEST(Attacks, OverwritingEmbedsTheAttackersOwnOutputMark) {
  const Dataset train = banded(300, 8);
  const Normalization norm{{0.2f}, {0.3f}};
  Model m = mlp(8);
  train_model(m, train, norm, quick(3));
  OutputConfig attacker;
  attacker.keys = 5;
  attacker.candidates = 40;
  attacker.key_search = "random";
  TrainConfig cfg = quick(40);
  Rng key_rng(3);
  const OutputKeys keys = overwrite_output_attack(m, train, norm, attacker, cfg, key_rng);
  EXPECT_EQ(keys.size(), 5);
  LocalModelOracle oracle(m, norm, "attacked");
  EXPECT_TRUE(verify_output(oracle, keys).detected);
}
