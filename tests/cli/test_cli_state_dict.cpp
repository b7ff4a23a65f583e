// The commands that read a model, on files without Signet metadata (plain PyTorch state dicts):
// the architecture is recognised from the tensors, the input shape comes from the input tensor
// or the data set, and the logits are those of the model the state dict came from.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "models/model_io.h"
#include "models/trainer.h"
#include "tests/cli/cli_run.h"

namespace fs = std::filesystem;
using json = nlohmann::json;
using signet::testing::CliRun;
using signet::testing::run_signet;

namespace signet {
namespace {

struct Dir {
  fs::path path = fs::temp_directory_path() / ("signet_state_dict_" + std::to_string(getpid()));
  Dir() { fs::create_directories(path); }
  ~Dir() { fs::remove_all(path); }
  std::string file(const std::string& n) const { return (path / n).string(); }
};

// Rewrites a model file as PyTorch's save_file(state_dict) would: the tensors, no metadata.
void strip_metadata(const std::string& from, const std::string& to) {
  NamedTensors nt = load_safetensors(from);
  nt.metadata.clear();
  save_safetensors(to, nt);
}

json run_json(const std::string& args) { return signet::testing::run_signet_json(args); }

TEST(CliStateDict, ResNet50PredictEvaluateAndInfo) {
  Dir d;
  Rng rng(7);
  ModelConfig mc;
  mc.num_classes = 10;
  mc.input_shape = {3, 64, 64};
  Model m = build_model("resnet50", mc, rng);
  const std::string weights = d.file("resnet50.safetensors");
  {
    NamedTensors nt;
    for (auto& [n, t] : state_dict(*m.net)) nt.tensors.emplace_back(n, t);
    save_safetensors(weights, nt);
  }
  NamedTensors in;
  Tensor x = Tensor::zeros({2, 3, 64, 64});
  for (int64_t i = 0; i < x.numel(); ++i) x.f32()[i] = static_cast<float>(rng.normal());
  in.tensors.emplace_back("input", x);
  save_safetensors(d.file("in.safetensors"), in);
  const Tensor want = predict(m, x);

  for (const std::string model : {"", " --model resnet50"}) {
    const CliRun r = run_signet("predict --weights " + weights + model + " --input " + d.file("in.safetensors") +
                                " --out " + d.file("out.safetensors") + " --threads 2");
    ASSERT_EQ(r.status, 0) << r.output;
    const Tensor got = load_safetensors(d.file("out.safetensors")).at("output");
    ASSERT_EQ(got.shape(), want.shape());
    for (int64_t i = 0; i < want.numel(); ++i)
      EXPECT_NEAR(got.f32()[i], want.f32()[i], 1e-4 + 1e-4 * std::fabs(want.f32()[i]));
  }
  // Another architecture named by --model: the error names the tensor it needs.
  CliRun r = run_signet("predict --weights " + weights + " --model mnist-mlp --input " + d.file("in.safetensors") +
                        " --out " + d.file("out2.safetensors"));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("not a mnist-mlp state dict (its tensors fit resnet50)"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(d.file("out2.safetensors")));

  const json j = run_json("evaluate --weights " + weights + " --dataset synthetic:3x64x64:10:20:20 --threads 2 --json");
  EXPECT_EQ(j.value("model", ""), "resnet50") << j.dump();
  EXPECT_EQ(j.value("total", 0), 20) << j.dump();

  // Without a data set or an input the spatial size is not fixed by ResNet-50's weights.
  r = run_signet("attack prune --weights " + weights + " --fraction 0.1 --out " + d.file("pruned.safetensors"));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("give --input-shape C,H,W"), std::string::npos) << r.output;

  r = run_signet("info " + weights);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("model   resnet50: 10 classes, input 3 channels"), std::string::npos) << r.output;
}

TEST(CliStateDict, MnistMlpEmbedFromAndExtract) {
  Dir d;
  const std::string data = " --dataset synthetic:1x28x28:10:300:100:3 --quiet --threads 2";
  const std::string trained = d.file("trained.safetensors"), plain = d.file("plain.safetensors");
  CliRun r = run_signet("train --model mnist-mlp" + data + " --epochs 2 --seed 4 --out " + trained);
  ASSERT_EQ(r.status, 0) << r.output;
  strip_metadata(trained, plain);
  const std::string keys = d.file("k.wmk"), marked = d.file("marked.safetensors"), marked_plain = d.file("mp.safetensors");
  r = run_signet("embed --scheme uchida --bits 32 --lambda 1 --from " + plain + data +
                 " --epochs 4 --batch-size 32 --seed 4 --key-seed 9 --keys-out " + keys + " --out " + marked);
  ASSERT_EQ(r.status, 0) << r.output;
  // The state dict recorded no normalisation, so none was used; the marked model says so.
  const NamedTensors m = load_safetensors(marked);
  EXPECT_EQ(m.metadata.at("signet.input_mean"), "0");
  EXPECT_EQ(m.metadata.at("signet.input_std"), "1");
  strip_metadata(marked, marked_plain);
  json j = run_json("extract --keys " + keys + " --weights " + marked_plain + " --json");
  EXPECT_TRUE(j.value("ownership_proven", false)) << j.dump();
  EXPECT_EQ(j.value("model", ""), "mnist-mlp") << j.dump();
  j = run_json("extract --keys " + keys + " --weights " + plain + " --json");
  EXPECT_FALSE(j.value("ownership_proven", true)) << j.dump();

  // An attack without a data set: mnist-mlp's fc1 fixes the input at 784 = 1x28x28.
  j = run_json("attack prune --weights " + plain + " --fraction 0.2 --out " + d.file("pruned.safetensors") + " --json");
  EXPECT_EQ(j.value("model", ""), "mnist-mlp") << j.dump();
  r = run_signet("attack prune --weights " + plain + " --fraction 0.2 --input-shape 3,28,28 --out " +
                 d.file("pruned2.safetensors"));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("does not fit"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace signet
