// DeepSigns output-layer scheme (watermark/deepsigns/output.h): Eq. (5) thresholds against the
// paper's Table 4 and direct sums, p-values, the oracle, the keys file, errors, and a small
// end-to-end embed/verify on a synthetic set (the Fashion-MNIST run is experiments/).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "tests/engine/gradcheck.h"
#include "tests/watermark/banded_dataset.h"
#include "watermark/deepsigns/hidden.h"
#include "watermark/deepsigns/output.h"

using namespace signet;
namespace fs = std::filesystem;
using signet::test::banded;

namespace {
// Eq. (5) as printed: 1 - sum_{k=0}^{n} binom(K, k) (1/C)^(K-k) (1 - 1/C)^k, in long double.
long double eq5(int64_t n, int64_t K, int64_t C) {
  long double sum = 0;
  for (int64_t k = 0; k <= n; ++k) {
    long double binom = 1;
    for (int64_t i = 1; i <= k; ++i) binom = binom * (K - k + i) / i;
    sum += binom * std::pow(1.0L / C, static_cast<long double>(K - k)) * std::pow(1.0L - 1.0L / C, static_cast<long double>(k));
  }
  return 1 - sum;
}

std::string tmp(const std::string& name) {
  return (fs::temp_directory_path() / ("signet_dso_" + std::to_string(getpid()) + "_" + name)).string();
}

class FixedOracle final : public Oracle {
 public:
  explicit FixedOracle(std::vector<int64_t> y) : y_(std::move(y)) {}
  std::string describe() const override { return "fixed"; }
  int64_t num_classes() const override { return 10; }

 protected:
  Tensor answer(const Tensor& x) override {
    return Tensor::from_vector_i64(std::vector<int64_t>(y_.begin(), y_.begin() + x.size(0)), {x.size(0)});
  }

 private:
  std::vector<int64_t> y_;
};
}  // namespace

TEST(DeepSignsOutput, ThresholdReproducesPaperTable4) {
  EXPECT_EQ(compute_mismatch_threshold(0.999, 20, 10), 13);
  EXPECT_EQ(compute_mismatch_threshold(0.999, 30, 10), 21);
  EXPECT_EQ(compute_mismatch_threshold(0.999, 20, 1000), 19);
  EXPECT_EQ(compute_mismatch_threshold(0.999, 30, 1000), 29);
}

TEST(DeepSignsOutput, ThresholdIsTheFirstNWhereEq5FallsBelowP) {
  for (int64_t C : {2, 3, 10, 100})
    for (int64_t K = 1; K <= 40; ++K)
      for (double p : {0.9, 0.99, 0.999}) {
        const int64_t theta = compute_mismatch_threshold(p, K, C);
        ASSERT_GE(theta, 0);
        ASSERT_LE(theta, K);
        // Eq. (5) at theta is below p; at every smaller n it is not.
        EXPECT_LT(eq5(theta, K, C), p) << "K=" << K << " C=" << C << " p=" << p;
        // (ties such as (1/10)^3 = 1 - 0.999 count as not below p)
        if (theta > 0) EXPECT_GE(eq5(theta - 1, K, C), p - 1e-12) << "K=" << K << " C=" << C << " p=" << p;
        // Detected (m < theta) exactly when the p-value of the matches is <= 1 - p.
        for (int64_t m = 0; m <= K; ++m)
          EXPECT_EQ(m < theta, mismatch_p_value(K, C, m) <= (1 - p) * (1 + 1e-9))
              << "K=" << K << " C=" << C << " m=" << m;
      }
  // Too few keys: even zero mismatches are not significant.
  EXPECT_EQ(compute_mismatch_threshold(0.999, 2, 10), 0);
  EXPECT_EQ(compute_mismatch_threshold(0.999, 3, 10), 1);
  EXPECT_THROW(compute_mismatch_threshold(1.0, 20, 10), Error);
  EXPECT_THROW(compute_mismatch_threshold(0.999, 0, 10), Error);
  EXPECT_THROW(compute_mismatch_threshold(0.999, 20, 1), Error);
}

TEST(DeepSignsOutput, PValueIsTheBinomialTailOfMatches) {
  // All K match: (1/C)^K. None match: 1.
  EXPECT_NEAR(mismatch_p_value(20, 10, 0), 1e-20, 1e-30);
  EXPECT_NEAR(mismatch_p_value(20, 10, 20), 1.0, 1e-12);
  // P[Bin(4, 1/2) >= 3] = 5/16.
  EXPECT_NEAR(mismatch_p_value(4, 2, 1), 5.0 / 16, 1e-12);
}

TEST(DeepSignsOutput, CountResponseMismatchAndOracles) {
  const Tensor y = Tensor::from_vector_i64({1, 2, 3, 4}, {4});
  EXPECT_EQ(count_response_mismatch(Tensor::from_vector_i64({1, 0, 3, 0}, {4}), y), 2);
  EXPECT_THROW(count_response_mismatch(Tensor::from_vector_i64({1}, {1}), y), Error);

  auto inner = std::make_shared<FixedOracle>(std::vector<int64_t>{1, 2, 3, 4});
  const Tensor x = Tensor::zeros({4, 1, 2, 2});
  EXPECT_EQ(inner->labels(x).to_vector_i64(), y.to_vector_i64());
  EXPECT_EQ(inner->queries(), 4);
  NoisyLabelOracle clean(inner, 0.0, 1);
  EXPECT_EQ(clean.labels(x).to_vector_i64(), y.to_vector_i64());
  NoisyLabelOracle noisy(inner, 1.0, 1);
  int64_t changed = 0;
  for (int r = 0; r < 25; ++r) changed += count_response_mismatch(noisy.labels(x), y);
  EXPECT_GT(changed, 50);  // 90% of 100 answers expected to change
  EXPECT_EQ(noisy.queries(), 100);
  EXPECT_EQ(inner->queries(), 108);
  EXPECT_THROW(NoisyLabelOracle(inner, 1.5, 1), Error);

  OutputKeys keys;
  keys.key_inputs = x;
  keys.key_labels = y;
  keys.num_classes = 10;
  keys.confidence = 0.9;
  FixedOracle o({1, 2, 3, 4});
  const OutputEvidence ev = verify_output(o, keys);
  EXPECT_EQ(ev.mismatches, 0);
  EXPECT_EQ(ev.theta, compute_mismatch_threshold(0.9, 4, 10));
  EXPECT_TRUE(ev.detected);
  EXPECT_NEAR(ev.p_value, 1e-4, 1e-12);
}

TEST(DeepSignsOutput, PenultimateLayer) {
  Rng init(1);
  Model mlp = build_model("mnist-mlp", ModelConfig{}, init);
  EXPECT_EQ(penultimate_layer(mlp), "relu2");
  ModelConfig drop;
  drop.dropout = 0.5f;
  Model mlp_drop = build_model("mnist-mlp", drop, init);
  EXPECT_EQ(penultimate_layer(mlp_drop), "relu2");  // drop2 is skipped
  // The other registered models, when this build has them (models/registry.h marks the tap).
  const auto names = model_names();
  auto has = [&](const std::string& n) { return std::find(names.begin(), names.end(), n) != names.end(); };
  if (has("cifar10-cnn")) {
    ModelConfig c;
    c.dropout = 0.5f;
    Model cnn = build_model("cifar10-cnn", c, init);
    EXPECT_EQ(penultimate_layer(cnn), "classifier.2");  // classifier.3 (dropout) is skipped
  }
  if (std::find_if(names.begin(), names.end(), [](const std::string& n) { return n.rfind("wrn-", 0) == 0; }) !=
      names.end()) {
    ModelConfig c;
    c.input_shape = {3, 32, 32};
    Model wrn = build_model("wrn-16-1", c, init);
    EXPECT_EQ(penultimate_layer(wrn), "pool");
  }
}

TEST(DeepSignsOutput, EmbedVerifyAndKeysFileRoundTrip) {
  const Dataset train = banded(400, 2);
  const Normalization norm{{0.2f}, {0.3f}};
  Rng init(5);
  Model model = build_model("mnist-mlp", ModelConfig{}, init);
  TrainConfig pre;
  pre.epochs = 4;
  pre.batch_size = 50;
  pre.progress = false;
  train_model(model, train, norm, pre);
  const std::string unmarked_path = tmp("unmarked.safetensors");
  save_model(unmarked_path, model, norm);

  OutputConfig oc;
  oc.keys = 10;
  oc.candidates = 100;
  oc.density.eps_sample = 200;
  TrainConfig ft;
  ft.epochs = 60;
  ft.batch_size = 50;
  ft.lr = 0.01f;
  ft.progress = false;
  OutputEmbedReport rep;
  Rng key_rng(7);
  const OutputKeys keys = embed_output(model, train, norm, oc, ft, key_rng, &rep);
  EXPECT_EQ(keys.size(), 10);
  EXPECT_EQ(keys.layer, "relu2");
  EXPECT_EQ(keys.theta, compute_mismatch_threshold(0.999, 10, 10));
  EXPECT_GT(keys.pca.out_features(), 0);
  EXPECT_GE(rep.survivors, 10);
  EXPECT_EQ(rep.candidates, 100);
  EXPECT_GE(rep.drawn, 100);
  EXPECT_EQ(rep.mixture_size, 400 + 100 * rep.key_repeat);
  for (int64_t c : keys.key_density.to_vector_i64()) EXPECT_LT(c, keys.density_threshold);

  LocalModelOracle marked(model, norm, "marked");
  const OutputEvidence on_marked = verify_output(marked, keys);
  EXPECT_EQ(on_marked.mismatches, 0);
  EXPECT_TRUE(on_marked.detected);
  LocalModelOracle unmarked(unmarked_path, Normalization{});
  const OutputEvidence on_unmarked = verify_output(unmarked, keys);
  EXPECT_EQ(on_unmarked.mismatches, 10);  // Key Generation 2 kept keys the original gets wrong
  EXPECT_FALSE(on_unmarked.detected);
  Rng other_init(99);
  LocalModelOracle fresh(build_model("mnist-mlp", ModelConfig{}, other_init), norm, "fresh");
  EXPECT_FALSE(verify_output(fresh, keys).detected);

  // Keys file: mode 0600, SHA-256 returned and read back, every field round-trips.
  const std::string path = tmp("keys.wmk");
  const std::string written = save_output_keys(path, keys);
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::string sha;
  const OutputKeys back = load_output_keys(path, &sha);
  EXPECT_EQ(sha, written);
  EXPECT_EQ(back.key_inputs.to_vector(), keys.key_inputs.to_vector());
  EXPECT_EQ(back.key_labels.to_vector_i64(), keys.key_labels.to_vector_i64());
  EXPECT_EQ(back.key_density.to_vector_i64(), keys.key_density.to_vector_i64());
  EXPECT_EQ(back.pca.components.to_vector(), keys.pca.components.to_vector());
  EXPECT_EQ(back.pca.mean.to_vector(), keys.pca.mean.to_vector());
  EXPECT_EQ(back.eps, keys.eps);
  EXPECT_EQ(back.density_threshold, keys.density_threshold);
  EXPECT_EQ(back.theta, keys.theta);
  EXPECT_EQ(back.num_classes, 10);
  EXPECT_EQ(back.candidates, 100);
  EXPECT_EQ(back.model, "mnist-mlp");
  EXPECT_EQ(back.key_search, "density");
  EXPECT_EQ(back.norm.mean, norm.mean);
  EXPECT_EQ(verify_output(marked, back).mismatches, 0);

  // A tampered theta is caught.
  {
    OutputKeys bad = keys;
    bad.theta = keys.theta + 1;
    save_output_keys(path, bad);
    EXPECT_THROW(load_output_keys(path), Error);
  }
  fs::remove(path);
  fs::remove(unmarked_path);
}

TEST(DeepSignsOutput, RandomKeySearchAndTooFewSurvivors) {
  const Dataset train = banded(200, 3);
  const Normalization norm{{0.2f}, {0.3f}};
  Rng init(6);
  Model model = build_model("mnist-mlp", ModelConfig{}, init);
  OutputConfig oc;
  oc.keys = 10;
  oc.candidates = 10;  // K' = K: every candidate must survive
  oc.key_search = "random";
  TrainConfig ft;
  ft.epochs = 1;
  ft.lr = 1e-6f;  // nothing is learnt: few keys can survive
  ft.progress = false;
  try {
    Rng key_rng(1);
    embed_output(model, train, norm, oc, ft, key_rng);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("--keys 10"), std::string::npos) << m;
    EXPECT_NE(m.find("--epochs"), std::string::npos) << m;
  }
  // Random search draws exactly K' candidates and records no PCA.
  OutputKeys k;
  Rng rng(1);
  oc.candidates = 30;
  const OutputCandidates c = generate_key_candidates(model, train, norm, oc, k, rng);
  EXPECT_EQ(c.inputs.size(0), 30);
  EXPECT_EQ(c.drawn, 30);
  EXPECT_TRUE(c.density.empty());
  EXPECT_FALSE(k.pca.components.defined());
  for (int64_t y : c.labels.to_vector_i64()) EXPECT_TRUE(y >= 0 && y < 10);
  oc.key_search = "pdf";
  EXPECT_THROW(generate_key_candidates(model, train, norm, oc, k, rng), Error);
}

TEST(DeepSignsOutput, ConfigErrorsSayWhatToChange) {
  const Dataset train = banded(50, 4);
  Rng init(1);
  Model model = build_model("mnist-mlp", ModelConfig{}, init);
  OutputConfig oc;
  oc.keys = 2;  // (1/10)^2 = 1% > 0.1%: no number of mismatches can prove anything
  TrainConfig ft;
  ft.progress = false;
  try {
    Rng key_rng(1);
    embed_output(model, train, Normalization{}, oc, ft, key_rng);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("use --keys 3 or more"), std::string::npos) << e.what();
  }
}

TEST(DeepSignsOutput, KeysFileErrorsNameTheFile) {
  const std::string path = tmp("notkeys.safetensors");
  NamedTensors nt;
  nt.tensors.emplace_back("x", Tensor::zeros({1}));
  save_safetensors(path, nt);
  try {
    load_output_keys(path);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  nt.metadata["signet.format"] = "keys";
  nt.metadata["signet.scheme"] = "deepsigns-hidden";
  save_safetensors(path, nt);
  try {
    load_output_keys(path);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("signet extract"), std::string::npos) << e.what();
  }
  fs::remove(path);
  EXPECT_THROW(load_output_keys(path), Error);  // missing file
}

// ------------------------------------------------------------------ the command line
namespace {
struct CliRun {
  int status;
  std::string output;
};

CliRun run_cli(const std::string& args) {
  const std::string cmd = std::string(SIGNET_BIN) + " " + args + " 2>&1";
  CliRun r{0, ""};
  FILE* p = popen(cmd.c_str(), "r");
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) r.output.append(buf, n);
  const int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return r;
}
}  // namespace

TEST(DeepSignsOutputCli, EmbedVerifyFinetuneAndErrors) {
  const std::string dir = tmp("cli");
  fs::create_directories(dir);
  const std::string data = "--dataset synthetic:1x28x28:10:300:100:3 --quiet --threads 2";
  CliRun r = run_cli("train --model mnist-mlp " + data + " --epochs 2 --out " + dir + "/u.safetensors");
  ASSERT_EQ(r.status, 0) << r.output;
  // The synthetic images are uniform noise, like the candidates: no candidate is in a
  // low-density region, so the density search gives up and says what to do.
  r = run_cli("embed --scheme deepsigns-output " + data + " --from " + dir + "/u.safetensors --keys 5 --candidates 60 "
              "--key-search density --keys-out " + dir + "/k.wmk --out " + dir + "/m.safetensors");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("or use --key-search random"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir + "/k.wmk"));
  r = run_cli("embed --scheme deepsigns-output " + data + " --from " + dir + "/u.safetensors --keys 5 --candidates 60 "
              "--key-search random --lr 0.05 --key-seed 1 --keys-out " + dir + "/k.wmk --out " + dir + "/m.safetensors");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("mismatches (theta 2)"), std::string::npos) << r.output;
  r = run_cli("verify --keys " + dir + "/k.wmk --weights " + dir + "/m.safetensors --weights " + dir + "/u.safetensors");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("OWNERSHIP PROVEN"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("not claimed"), std::string::npos) << r.output;
  r = run_cli("verify --json --keys " + dir + "/k.wmk --weights " + dir + "/m.safetensors");
  EXPECT_NE(r.output.find("\"detected\":true"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\"theta\":2"), std::string::npos) << r.output;
  r = run_cli("finetune " + data + " --weights " + dir + "/m.safetensors --epochs 1 --out " + dir + "/f.safetensors");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(fs::exists(dir + "/f.safetensors"));

  // Errors name the flag or file and say what to do.
  r = run_cli("embed --scheme deepsigns-output " + data + " --keys-out " + dir + "/k2.wmk --out " + dir + "/m2.safetensors");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("--from"), std::string::npos) << r.output;
  r = run_cli("embed --scheme deepsigns-output " + data + " --from " + dir + "/u.safetensors --key-search pdf --keys-out " +
              dir + "/k2.wmk --out " + dir + "/m2.safetensors");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("--key-search 'pdf'"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir + "/k2.wmk"));
  r = run_cli("verify --keys " + dir + "/nokeys.wmk --weights " + dir + "/m.safetensors");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("nokeys.wmk"), std::string::npos) << r.output;
  r = run_cli("verify --keys " + dir + "/m.safetensors --weights " + dir + "/m.safetensors");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("is a model file, not a keys file"), std::string::npos) << r.output;
  r = run_cli("finetune " + data + " --weights " + dir + "/m.safetensors --out " + dir + "/m.safetensors");
  EXPECT_EQ(r.status, 1) << r.output;
  fs::remove_all(dir);
}
