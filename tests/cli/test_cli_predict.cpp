// signet predict: logits of a batch read from a safetensors file, for image models (float32
// pixels) and token models (int64 token ids, e.g. imdb-lstm with its one logit).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "engine/serialize/safetensors.h"
#include "models/model_io.h"
#include "models/trainer.h"
#include "tests/cli/cli_run.h"

namespace fs = std::filesystem;
using namespace signet;

namespace {
// Exit status of the command (its output is not needed here).
int run_quiet(const std::string& args) { return signet::testing::run_signet(args).status; }

struct Dir {
  fs::path p = fs::temp_directory_path() / ("signet_predict_" + std::to_string(getpid()));
  Dir() { fs::create_directories(p); }
  ~Dir() { fs::remove_all(p); }
  std::string f(const std::string& n) const { return (p / n).string(); }
};
}  // namespace

TEST(CliPredict, TokenModelTakesInt64AndMatchesTheLibrary) {
  Dir d;
  Rng init(3);
  ModelConfig cfg;
  cfg.num_classes = 2;
  cfg.input_shape = {12};
  cfg.vocab_size = 50;
  Model m = build_model("imdb-lstm", cfg, init);
  save_model(d.f("lstm.safetensors"), m, Normalization{}, {});
  Tensor x = Tensor::empty({4, 12}, DType::I64);
  for (int64_t i = 0; i < x.numel(); ++i) x.i64()[i] = (i * 7) % 50;
  NamedTensors in;
  in.tensors.emplace_back("input", x);
  save_safetensors(d.f("in.safetensors"), in);
  ASSERT_EQ(run_quiet("predict --weights " + d.f("lstm.safetensors") + " --input " + d.f("in.safetensors") +
                      " --out " + d.f("out.safetensors")),
            0);
  const Tensor got = load_safetensors(d.f("out.safetensors")).at("output");
  const Tensor want = predict(m, x).contiguous();
  ASSERT_EQ(got.shape(), want.shape());
  for (int64_t i = 0; i < want.numel(); ++i) EXPECT_NEAR(got.f32()[i], want.f32()[i], 1e-5f);

  // Float input to a token model: a clear error, no output file.
  NamedTensors bad;
  bad.tensors.emplace_back("input", Tensor::zeros({4, 12}));
  save_safetensors(d.f("bad.safetensors"), bad);
  EXPECT_NE(run_quiet("predict --weights " + d.f("lstm.safetensors") + " --input " + d.f("bad.safetensors") +
                      " --out " + d.f("out2.safetensors")),
            0);
  EXPECT_FALSE(fs::exists(d.f("out2.safetensors")));
}
