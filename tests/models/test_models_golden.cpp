// Golden tests of the paper models against PyTorch 1.13 (tests/golden/make_{cnn,wrn,resnet50,
// imdb_lstm}.py wrote the files; tests/golden/README.md describes them): logits, loss, the
// penultimate activation (the DeepSigns tap), parameter gradients, and BatchNorm running
// statistics after one training-mode forward. cifar10-cnn and resnet50 are too large to store
// their parameters: both sides set them with the exact formula of tests/golden/formula_init.py
// (FormulaInit below). wrn-16-2 and imdb-lstm store PyTorch's initial parameters.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>

#include "engine/ops.h"
#include "engine/serialize/safetensors.h"
#include "layers/conv_layers.h"
#include "models/model_io.h"
#include "models/trainer.h"

using namespace signet;

namespace {

const NamedTensors& golden(const std::string& file) {
  static std::map<std::string, NamedTensors> cache;
  auto it = cache.find(file);
  if (it == cache.end())
    it = cache.emplace(file, load_safetensors(std::string(SIGNET_SOURCE_DIR) + "/tests/golden/" + file)).first;
  return it->second;
}

// |got - want| <= atol + rtol |want| for every element, with atol = atol_abs + atol_rel * max|want|;
// reports the worst element.
void expect_close(const Tensor& got, const Tensor& want, double rtol, double atol_abs, double atol_rel,
                  const std::string& what) {
  ASSERT_TRUE(got.defined()) << what << ": no tensor";
  ASSERT_EQ(shape_numel(got.shape()), shape_numel(want.shape())) << what << " " << shape_str(got.shape()) << " vs "
                                                                 << shape_str(want.shape());
  const auto g = got.to_vector(), w = want.to_vector();
  double maxw = 0;
  for (float v : w) maxw = std::max(maxw, static_cast<double>(std::abs(v)));
  const double atol = atol_abs + atol_rel * maxw;
  double worst = -1e300;
  size_t at = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    const double excess = std::abs(g[i] - w[i]) - (atol + rtol * std::abs(w[i]));
    if (!(excess <= worst) || std::isnan(g[i])) { worst = std::isnan(g[i]) ? 1e300 : excess; at = i; }
  }
  EXPECT_LE(worst, 0.0) << what << ": worst element " << at << " got " << g[at] << " want " << w[at]
                        << " (max |want| " << maxw << ")";
}

// tests/golden/formula_init.py, bit for bit.
uint32_t fnv1a32(const std::string& s) {
  uint32_t h = 0x811c9dc5u;
  for (unsigned char c : s) { h ^= c; h *= 0x01000193u; }
  return h;
}

void formula_fill(const std::string& name, Tensor& t) {
  const uint32_t seed = fnv1a32(name);
  const Shape& s = t.shape();
  double scale;
  double offset = 0;
  if (s.size() >= 2) {
    int64_t fan_in = 1;
    for (size_t d = 1; d < s.size(); ++d) fan_in *= s[d];
    int L = 0;
    while ((int64_t{1} << (L + 1)) <= fan_in) ++L;
    scale = std::ldexp(1.0, 1 - L / 2 - 19);
  } else {
    scale = std::ldexp(1.0, -22);
    if (name.size() >= 6 && name.compare(name.size() - 6, 6, "weight") == 0) offset = 1.0;
  }
  float* p = t.f32();
  for (int64_t i = 0, n = t.numel(); i < n; ++i) {
    uint32_t x = static_cast<uint32_t>(static_cast<uint64_t>(i) * 0x9E3779B1ull + seed);
    x ^= x >> 16; x *= 0x85ebca6bu; x ^= x >> 13; x *= 0xc2b2ae35u; x ^= x >> 16;
    const int64_t v = static_cast<int64_t>(x >> 12) - (int64_t{1} << 19);
    p[i] = static_cast<float>(offset + static_cast<double>(v) * scale);
  }
}

// Formula-initialises every parameter and checks each one's sum against the file's init_sums.
void formula_init(Model& m, const std::string& file) {
  // Stored as F64; Signet's reader rounds it to float32.
  const auto want = golden(file).at("init_sums").to_vector();
  const auto params = m.net->named_parameters();
  ASSERT_EQ(params.size(), want.size()) << file << ": number of parameters";
  for (size_t k = 0; k < params.size(); ++k) {
    Tensor t = params[k].second;
    formula_fill(params[k].first, t);
    double s = 0;
    for (float v : t.to_vector()) s += v;
    EXPECT_NEAR(s, want[k], 1e-6 * std::max(1.0, std::abs(static_cast<double>(want[k]))))
        << "formula init of " << params[k].first;
  }
}

// Copies the file's initial parameters (stored under their names) into the model.
void load_params(Model& m, const std::string& file) {
  for (auto& [name, p] : m.net->named_parameters()) {
    auto it = golden(file).find(name);
    ASSERT_TRUE(it != nullptr) << file << " has no parameter " << name;
    Tensor d = p;
    d.copy_(*it);
  }
}

// Relative L2 error ||got - want|| / ||want||.
double rel_l2(const Tensor& got, const Tensor& want) {
  const auto g = got.to_vector(), w = want.to_vector();
  double d = 0, n = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    d += (static_cast<double>(g[i]) - w[i]) * (static_cast<double>(g[i]) - w[i]);
    n += static_cast<double>(w[i]) * w[i];
  }
  return std::sqrt(d / std::max(n, 1e-300));
}

struct Tol {
  double rtol = 1e-4;      // every comparison: |got - want| <= rtol |want| + atol
  double fwd_rel = 0;      // forward tensors (logits, tap, running stats): atol += fwd_rel max|want|
  double grad_rel = 1e-5;  // gradients: atol += grad_rel max|want|
  double grad_l2 = 0;      // > 0: gradients not named "fc.*" are compared by relative L2 error instead
};

// logits, loss, penultimate tap, gradients (grad.<name> present in the file), running stats.
void check_step(Model& m, const std::string& file, const std::string& tap, const Tol& tol) {
  const NamedTensors& g = golden(file);
  m.net->train(true);
  Taps taps;
  taps.wanted.insert(tap);
  Tensor logits = m(g.at("input"), &taps);
  expect_close(logits, g.at("logits"), tol.rtol, 1e-5, tol.fwd_rel, file + " logits");
  expect_close(taps.require(tap), g.at("penultimate"), tol.rtol, 1e-5, tol.fwd_rel, file + " penultimate " + tap);
  Tensor loss = model_loss(m, logits, g.at("target"));
  EXPECT_NEAR(loss.item(), g.at("loss").item(), 1e-5 + tol.rtol * std::abs(g.at("loss").item())) << file << " loss";
  loss.backward();
  int grads = 0;
  double worst_l2 = 0;
  for (const auto& [name, p] : m.net->named_parameters()) {
    if (const Tensor* w = g.find("grad." + name)) {
      if (tol.grad_l2 > 0 && name.rfind("fc.", 0) != 0) {
        const double e = rel_l2(p.grad(), *w);
        EXPECT_LE(e, tol.grad_l2) << file << " grad." << name << ": relative L2 error";
        worst_l2 = std::max(worst_l2, e);
      } else {
        expect_close(p.grad(), *w, tol.rtol, 1e-7, tol.grad_rel, file + " grad." + name);
      }
      ++grads;
    }
  }
  EXPECT_GT(grads, 0);
  int stats = 0;
  for (const auto& [name, b] : m.net->named_buffers()) {
    if (name.size() > 20 && name.compare(name.size() - 19, 19, "num_batches_tracked") == 0) {
      EXPECT_EQ(b.i64()[0], 1) << name;
    } else if (const Tensor* w = g.find("after." + name)) {
      expect_close(b, *w, tol.rtol, 1e-6, tol.fwd_rel, file + " after." + name);
      ++stats;
    } else {
      ADD_FAILURE() << file << " has no after." << name;
    }
  }
  std::printf("%s: %d gradients, %d running statistics compared%s\n", file.c_str(), grads, stats,
              tol.grad_l2 > 0 ? fmt::format(" (worst gradient relative L2 error {:.2e})", worst_l2).c_str() : "");
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep)) out.push_back(item);
  return out;
}

std::vector<std::string> param_names(const Model& m) {
  std::vector<std::string> n;
  for (const auto& [k, v] : m.net->named_parameters()) n.push_back(k);
  return n;
}

ModelConfig config(int64_t classes, Shape shape, int64_t vocab = 0) {
  ModelConfig c;
  c.num_classes = classes;
  c.input_shape = std::move(shape);
  c.vocab_size = vocab;
  return c;
}

}  // namespace

TEST(ModelsGolden, Cifar10CnnMatchesPyTorch) {
  const std::string f = "cnn_golden.safetensors";
  Rng rng(1);
  Model m = build_model("cifar10-cnn", config(10, {3, 32, 32}), rng);
  EXPECT_EQ(param_names(m), split(golden(f).metadata.at("params"), ','));
  EXPECT_EQ(m.net->num_parameters(), 2168362);
  formula_init(m, f);
  check_step(m, f, "classifier.2", Tol{});
  // classifier.1.weight's gradient: its first 32 rows are stored.
  for (const auto& [name, p] : m.net->named_parameters())
    if (name == "classifier.1.weight")
      expect_close(narrow(p.grad(), 0, 0, 32), golden(f).at("grad_rows32.classifier.1.weight"), 1e-4, 1e-7, 1e-5,
                   "grad rows of classifier.1.weight");
  // The same model built for Fashion-MNIST's 1x28x28 (flatten 64*7*7 = 3136).
  Model s = build_model("cifar10-cnn", config(10, {1, 28, 28}), rng);
  for (auto& [name, p] : s.net->named_parameters()) { Tensor t = p; formula_fill(name, t); }
  s.net->train(true);
  Tensor ls = s(golden(f).at("fmnist.input"));
  expect_close(ls, golden(f).at("fmnist.logits"), 1e-4, 1e-5, 0, "fmnist logits");
  EXPECT_NEAR(cross_entropy(ls, golden(f).at("target")).item(), golden(f).at("fmnist.loss").item(), 1e-4);
}

TEST(ModelsGolden, WideResNet16x2MatchesPyTorch) {
  const std::string f = "wrn_golden.safetensors";
  Rng rng(1);
  Model m = build_model("wrn-16-2", config(10, {3, 32, 32}), rng);
  EXPECT_EQ(param_names(m), split(golden(f).metadata.at("params"), ','));
  std::vector<std::string> buffers;
  for (const auto& [k, v] : m.net->named_buffers()) buffers.push_back(k);
  EXPECT_EQ(buffers, split(golden(f).metadata.at("buffers"), ','));
  load_params(m, f);
  // block1's 3x3 convolutions run as Winograd F(4x4, 3x3), whose transforms round each output
  // to ~1e-5 of the largest (F(2x2, 3x3): ~3e-7; Conv2dWinograd bounds both per convolution).
  // Over batch 2, BatchNorm and ReLU turn that into gradients off by up to ~1e-3 in relative L2
  // error (elementwise, up to 1e-3 of an element on a few); a real error is O(1). fc's
  // gradient stays elementwise.
  Tol tol;
  tol.grad_l2 = 5e-3;
  check_step(m, f, "pool", tol);
}

TEST(ModelsGolden, ResNet50MatchesPyTorch) {
  const std::string f = "resnet50_golden.safetensors";
  Rng rng(1);
  Model m = build_model("resnet50", config(10, {3, 64, 64}), rng);
  EXPECT_EQ(golden(f).at("input").shape(), (Shape{4, 3, 64, 64}));
  EXPECT_EQ(param_names(m), split(golden(f).metadata.at("params"), ','));
  EXPECT_EQ(m.net->num_parameters(), 23528522);
  // A state dict with exactly torchvision's names and shapes loads strictly.
  NamedTensorList tv;
  for (const auto& entry : split(golden(f).metadata.at("state_dict"), ';')) {
    const auto colon = entry.find(':');
    const std::string name = entry.substr(0, colon), dims = entry.substr(colon + 1);
    Shape shape;
    for (const auto& d : split(dims, ',')) shape.push_back(std::stoll(d));
    const bool count = name.find("num_batches_tracked") != std::string::npos;
    tv.emplace_back(name, Tensor::zeros(shape, count ? DType::I64 : DType::F32));
  }
  EXPECT_EQ(tv.size(), state_dict(*m.net).size());
  EXPECT_NO_THROW(load_state_dict(*m.net, tv, "torchvision resnet50 state dict"));
  // Fresh model (the loaded zeros also zeroed the running variances).
  Model r = build_model("resnet50", config(10, {3, 64, 64}), rng);
  formula_init(r, f);
  // The reference is computed in float64. Forward values (logits, pooled features, running
  // statistics) agree to ~1e-4 of their largest element. Gradients below layer4.2 are compared
  // by relative L2 error: a float32 forward puts a few ReLU inputs on the other side of zero
  // than float64 (here one: +9e-5 in layer4.1's output), and training-mode BatchNorm over 16
  // values per channel in layer4 spreads such a flip into every earlier gradient (Signet 2.3e-2,
  // PyTorch's own float32 7.7e-3 against the same reference); a real error is O(1).
  // fc's gradient involves no ReLU mask and stays elementwise.
  Tol tol;
  tol.fwd_rel = 5e-4;
  tol.grad_rel = 5e-4;
  tol.grad_l2 = 0.1;
  check_step(r, f, "avgpool", tol);
}

TEST(ModelsGolden, ImdbLstmMatchesPyTorch) {
  const std::string f = "imdb_lstm_golden.safetensors";
  Rng rng(1);
  Model m = build_model("imdb-lstm", config(2, {20}, 5002), rng);
  EXPECT_EQ(m.loss, "bce");
  EXPECT_EQ(param_names(m), split(golden(f).metadata.at("params"), ','));
  load_params(m, f);
  check_step(m, f, "lstm", Tol{});
  // Accuracy rule of one-logit models: (logit > 0) == label.
  NoGradGuard ng;
  const Tensor logits = m(golden(f).at("input"));
  const auto z = golden(f).at("logits").to_vector();
  const auto y = golden(f).at("target").to_vector_i64();
  int64_t want = 0;
  for (size_t i = 0; i < z.size(); ++i) want += (z[i] > 0) == (y[i] == 1);
  EXPECT_EQ(count_correct(m, logits, golden(f).at("target")), want);
}

TEST(Models, PenultimateTapsAndDefaults) {
  struct Case { std::string name; ModelConfig cfg; std::string tap; Shape tap_shape; };
  const std::vector<Case> cases = {
      {"mnist-mlp", config(10, {1, 28, 28}), "relu2", {2, 512}},
      {"cifar10-cnn", config(10, {1, 28, 28}), "classifier.2", {2, 512}},
      {"wrn-10-1", config(10, {1, 28, 28}), "pool", {2, 64}},
      {"resnet50", config(7, {3, 32, 32}), "avgpool", {2, 2048}},
      {"imdb-lstm", config(2, {9}, 50), "lstm", {2, 100}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(penultimate_tap(c.name), c.tap);
    Rng rng(3);
    Model m = build_model(c.name, c.cfg, rng);
    Shape xs{2};
    xs.insert(xs.end(), c.cfg.input_shape.begin(), c.cfg.input_shape.end());
    Tensor x = m.takes_tokens() ? Tensor::zeros(xs, DType::I64) : Tensor::full(xs, 0.5f);
    Taps taps;
    taps.wanted.insert(c.tap);
    NoGradGuard ng;
    m.net->eval();
    Tensor logits = m(x, &taps);
    EXPECT_EQ(taps.require(c.tap).shape(), c.tap_shape);
    EXPECT_EQ(logits.shape(), (Shape{2, c.name == "imdb-lstm" ? 1 : c.cfg.num_classes}));
  }
  EXPECT_EQ(default_model_config("resnet50").num_classes, 1000);
  EXPECT_EQ(default_model_config("resnet50").input_shape, (Shape{3, 224, 224}));
  EXPECT_EQ(default_model_config("imdb-lstm").input_shape, (Shape{500}));
  EXPECT_EQ(default_model_config("imdb-lstm").vocab_size, 5002);
  EXPECT_EQ(default_model_config("wrn-28-10").input_shape, (Shape{3, 32, 32}));
}

TEST(Models, WideResNetNamesAndSizes) {
  int64_t d = 0, k = 0;
  EXPECT_TRUE(parse_wrn_name("wrn-28-10", &d, &k));
  EXPECT_EQ(d, 28);
  EXPECT_EQ(k, 10);
  EXPECT_FALSE(parse_wrn_name("resnet50", &d, &k));
  for (const char* bad : {"wrn-15-4", "wrn-16", "wrn-16-0", "wrn-a-4", "wrn-4-1"}) {
    SCOPED_TRACE(bad);
    try {
      Rng rng(0);
      build_model(bad, config(10, {3, 32, 32}), rng);
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("wrn-D-K"), std::string::npos) << e.what();
    }
  }
  Rng rng(0);
  // Zagoruyko & Komodakis' Table: WRN-16-4 2.7M, WRN-28-10 36.5M parameters (CIFAR-10).
  EXPECT_EQ(build_model("wrn-16-4", config(10, {3, 32, 32}), rng).net->num_parameters(), 2748890);
  EXPECT_EQ(build_model("wrn-28-10", config(10, {3, 32, 32}), rng).net->num_parameters(), 36479194);
}

TEST(Models, WrongInputKindIsAnActionableError) {
  Rng rng(0);
  try {
    build_model("cifar10-cnn", config(2, {500}), rng);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("imdb-lstm"), std::string::npos) << e.what();
  }
  try {
    build_model("imdb-lstm", config(2, {3, 32, 32}), rng);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("token"), std::string::npos) << e.what();
  }
  EXPECT_THROW(build_model("imdb-lstm", config(10, {500}), rng), Error);  // one logit: <= 2 classes
  EXPECT_THROW(build_model("resnet50", config(10, {3, 16, 16}), rng), Error);
}

TEST(Models, ImdbLstmVocabularySizeSurvivesSaveAndLoad) {
  Rng rng(0);
  Model m = build_model("imdb-lstm", config(2, {30}, 123), rng);
  const std::string path = ::testing::TempDir() + "/imdb_lstm_vocab.safetensors";
  save_model(path, m, Normalization{});
  Normalization norm;
  Model back = load_model(path, "imdb-lstm", &norm);
  EXPECT_EQ(back.config.vocab_size, 123);
  EXPECT_EQ(back.config.input_shape, (Shape{30}));
  EXPECT_EQ(back.loss, "bce");
  std::remove(path.c_str());
}
