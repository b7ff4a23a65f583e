// Golden test: Signet's mnist-mlp against PyTorch 1.13 on the same parameters and batch
// (tests/golden/make_mlp.py wrote tests/golden/mlp_golden.safetensors): logits, loss, every
// gradient, and 5 steps each of SGD-momentum, Adam and AdamW.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/ops.h"
#include "engine/serialize/safetensors.h"
#include "layers/optim.h"
#include "models/registry.h"

using namespace signet;

namespace {

const NamedTensors& golden() {
  static const NamedTensors g = load_safetensors(std::string(SIGNET_SOURCE_DIR) + "/tests/golden/mlp_golden.safetensors");
  return g;
}

const char* kParams[] = {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"};

Model golden_model() {
  Rng rng(123);
  Model m = build_model("mnist-mlp", ModelConfig{}, rng);
  NamedTensorList state;
  for (const char* n : kParams) state.emplace_back(n, golden().at(n));
  load_state_dict(*m.net, state, "mlp_golden.safetensors");
  return m;
}

// |got - want| <= atol + rtol |want| for every element; reports the worst one.
void expect_close(const Tensor& got, const Tensor& want, double rtol, double atol, const std::string& what) {
  ASSERT_EQ(shape_numel(got.shape()), shape_numel(want.shape())) << what;
  const auto g = got.to_vector(), w = want.to_vector();
  double worst = 0;
  size_t at = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    const double excess = std::abs(g[i] - w[i]) - (atol + rtol * std::abs(w[i]));
    if (i == 0 || excess > worst) { worst = excess; at = i; }
  }
  EXPECT_LE(worst, 0.0) << what << ": worst element " << at << " got " << g[at] << " want " << w[at];
}

Tensor loss_of(Model& m) {
  return cross_entropy(m(golden().at("input")), golden().at("target"));
}

void run_optimizer(const std::string& kind) {
  Model m = golden_model();
  std::unique_ptr<Optimizer> opt;
  if (kind == "sgd") {
    SgdOptions o;
    o.lr = 0.05f; o.momentum = 0.9f; o.weight_decay = 5e-4f;
    opt = std::make_unique<SGD>(m.net->named_parameters(), o);
  } else {
    AdamOptions o;
    o.lr = 1e-3f;
    if (kind == "adamw") { o.weight_decay = 0.01f; o.decoupled = true; }
    opt = std::make_unique<Adam>(m.net->named_parameters(), o);
  }
  const auto want = golden().at(kind + "_losses").to_vector();
  for (int s = 0; s < 5; ++s) {
    opt->zero_grad();
    Tensor loss = loss_of(m);
    EXPECT_NEAR(loss.item(), want[s], 1e-5 + 1e-4 * std::abs(want[s])) << kind << " step " << s + 1;
    loss.backward();
    opt->step();
  }
  const auto params = m.net->named_parameters();
  for (const auto& [name, t] : golden().tensors) {
    const std::string prefix = kind + "_final.";
    if (name.rfind(prefix, 0) != 0) continue;
    const std::string pname = name.substr(prefix.size());
    for (const auto& [n, p] : params)
      if (n == pname) expect_close(p, t, 1e-4, 1e-5, name);
  }
}

}  // namespace

TEST(MlpGolden, LogitsLossAndGradientsMatchPyTorch) {
  Model m = golden_model();
  Tensor logits = m(golden().at("input"));
  expect_close(logits, golden().at("logits"), 1e-4, 1e-5, "logits");
  Tensor loss = cross_entropy(logits, golden().at("target"));
  EXPECT_NEAR(loss.item(), golden().at("loss").item(), 1e-5);
  loss.backward();
  for (const auto& [name, p] : m.net->named_parameters())
    expect_close(p.grad(), golden().at("grad." + name), 1e-4, 1e-6, "grad." + name);
}

TEST(MlpGolden, SgdMomentumStepsMatchPyTorch) { run_optimizer("sgd"); }
TEST(MlpGolden, AdamStepsMatchPyTorch) { run_optimizer("adam"); }
TEST(MlpGolden, AdamWStepsMatchPyTorch) { run_optimizer("adamw"); }

TEST(MlpGolden, ParameterNamesAreThoseOfPyTorch) {
  Model m = golden_model();
  std::vector<std::string> names;
  for (const auto& [n, t] : m.net->named_parameters()) names.push_back(n);
  EXPECT_EQ(names, std::vector<std::string>(std::begin(kParams), std::end(kParams)));
  EXPECT_EQ(m.net->num_parameters(), 669706);
}
