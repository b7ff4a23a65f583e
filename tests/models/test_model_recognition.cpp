// Model files without Signet metadata (plain PyTorch state dicts): the architecture, classes,
// vocabulary and input shape recognised from the tensors (models/model_recognition.h), and the
// weights loaded so that the logits are PyTorch's. The PyTorch-written files come from
// tests/golden/make_state_dicts.py; wrn-16-4, resnet50 and mnist-mlp state dicts are written here
// by saving a built model's state dict with no metadata.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "models/model_io.h"
#include "models/model_recognition.h"
#include "models/trainer.h"

namespace signet {
namespace {

std::string golden(const std::string& f) { return std::string(SIGNET_SOURCE_DIR) + "/tests/golden/" + f; }

// What error `f` throws (fails the test when it throws none).
template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

#define EXPECT_HAS(s, part) EXPECT_NE((s).find(part), std::string::npos) << (s)

// A model's state dict as PyTorch's save_file writes it: tensors only, no metadata.
std::string save_plain(const Model& m, const std::string& name) {
  NamedTensors nt;
  for (auto& [n, t] : state_dict(*m.net)) nt.tensors.emplace_back(n, t);
  const std::string path = ::testing::TempDir() + "/" + name + ".safetensors";
  save_safetensors(path, nt);
  return path;
}

void expect_close(const Tensor& got, const Tensor& want) {
  ASSERT_EQ(got.shape(), want.shape());
  const Tensor g = got.contiguous(), w = want.contiguous();
  for (int64_t i = 0; i < w.numel(); ++i)
    EXPECT_NEAR(g.f32()[i], w.f32()[i], 1e-5 + 1e-4 * std::fabs(w.f32()[i])) << "element " << i;
}

ModelHints hints(const std::string& model = "", Shape given = {}, Shape data = {}) {
  ModelHints h;
  h.model = model;
  h.input_shape.given = std::move(given);
  h.input_shape.data = std::move(data);
  return h;
}

TEST(ModelRecognition, PyTorchStateDictsGiveTorchLogits) {
  const NamedTensors io = load_safetensors(golden("state_dict_io.safetensors"));
  struct Case {
    std::string file, key, model;
    int64_t classes, vocab;
    Shape hint;  // the input's shape, as predict and the data sets give it; empty: the weights fix it
  };
  for (const Case& c : {Case{"state_dict_cnn.safetensors", "cnn", "cifar10-cnn", 7, 0, {}},
                        Case{"state_dict_wrn.safetensors", "wrn", "wrn-10-1", 5, 0, {3, 12, 12}},
                        Case{"state_dict_imdb_lstm.safetensors", "imdb_lstm", "imdb-lstm", 2, 50, {9}}}) {
    SCOPED_TRACE(c.file);
    const NamedTensors file = load_safetensors(golden(c.file));
    EXPECT_TRUE(file.metadata.empty());
    EXPECT_EQ(recognise_architecture(file, c.file), c.model);
    const Tensor& x = io.at(c.key + ".input");
    Normalization norm{{9.0f}, {9.0f}};
    bool plain = false;
    Model m = load_model(golden(c.file), hints("", {}, c.hint), &norm, &plain);
    EXPECT_TRUE(plain);
    EXPECT_TRUE(norm.mean.empty());  // a state dict says nothing of normalisation
    EXPECT_EQ(m.name, c.model);
    EXPECT_EQ(m.config.num_classes, c.classes);
    EXPECT_EQ(m.config.vocab_size, c.vocab);
    EXPECT_EQ(m.config.input_shape, Shape(x.shape().begin() + 1, x.shape().end()));
    expect_close(predict(m, x), io.at(c.key + ".logits"));
  }
}

TEST(ModelRecognition, InputShapeFromTheWeightsOrTheCaller) {
  const NamedTensors cnn = load_safetensors(golden("state_dict_cnn.safetensors"));
  // classifier.1 takes 64 * 2 * 2: square 1x8x8 unless the caller says 1x9x11 (also 2x2 cells).
  EXPECT_EQ(infer_model_config("cifar10-cnn", cnn, {}, "f").input_shape, (Shape{1, 8, 8}));
  EXPECT_EQ(infer_model_config("cifar10-cnn", cnn, {{1, 9, 11}, {}}, "f").input_shape, (Shape{1, 9, 11}));
  // A data set that does not fit falls back to what the weights fix; --input-shape must fit.
  EXPECT_EQ(infer_model_config("cifar10-cnn", cnn, {{}, {3, 32, 32}}, "f").input_shape, (Shape{1, 8, 8}));
  std::string e = error_of([&] { infer_model_config("cifar10-cnn", cnn, {{1, 16, 16}, {}}, "f"); });
  EXPECT_HAS(e, "--input-shape [1, 16, 16] does not fit");
  EXPECT_HAS(e, "classifier.1.weight");

  const NamedTensors wrn = load_safetensors(golden("state_dict_wrn.safetensors"));
  e = error_of([&] { infer_model_config("wrn-10-1", wrn, {}, "f.safetensors"); });
  EXPECT_HAS(e, "give --input-shape C,H,W");
  e = error_of([&] { infer_model_config("wrn-10-1", wrn, {{}, {1, 28, 28}, "the data set 'x'"}, "f"); });
  EXPECT_HAS(e, "the inputs of the data set 'x' are [1, 28, 28]");
  EXPECT_HAS(e, "3 channels");
  const NamedTensors lstm = load_safetensors(golden("state_dict_imdb_lstm.safetensors"));
  EXPECT_HAS(error_of([&] { infer_model_config("imdb-lstm", lstm, {}, "f"); }), "--input-shape L");

  Rng rng(1);
  ModelConfig mc;
  mc.input_shape = {3, 5, 7};
  const Model mlp = build_model("mnist-mlp", mc, rng);
  const NamedTensors plain = load_safetensors(save_plain(mlp, "mlp105"));
  EXPECT_EQ(recognise_architecture(plain, "f"), "mnist-mlp");
  EXPECT_EQ(infer_model_config("mnist-mlp", plain, {}, "f").input_shape, (Shape{1, 1, 105}));
  EXPECT_EQ(infer_model_config("mnist-mlp", plain, {{}, {3, 5, 7}}, "f").input_shape, (Shape{3, 5, 7}));
}

TEST(ModelRecognition, WideResNetDepthAndWidthFromTheBlocks) {
  Rng rng(2);
  ModelConfig mc;
  mc.input_shape = {3, 32, 32};
  mc.num_classes = 100;
  Model m = build_model("wrn-16-4", mc, rng);
  const std::string path = save_plain(m, "wrn164");
  EXPECT_EQ(recognise_architecture(load_safetensors(path), path), "wrn-16-4");
  EXPECT_HAS(error_of([&] { load_model(path, hints(), nullptr); }), "--input-shape");
  Model back = load_model(path, hints("", {3, 32, 32}), nullptr);
  EXPECT_EQ(back.name, "wrn-16-4");
  EXPECT_EQ(back.config.num_classes, 100);
  Rng xr(3);
  Tensor x = Tensor::zeros({2, 3, 32, 32});
  for (int64_t i = 0; i < x.numel(); ++i) x.f32()[i] = static_cast<float>(xr.normal());
  expect_close(predict(back, x), predict(m, x));
  // --model naming another depth: the load names the tensor that does not fit.
  const std::string e = error_of([&] { load_model(path, hints("wrn-28-4", {3, 32, 32}), nullptr); });
  EXPECT_HAS(e, "missing tensor 'block1.layer.2.");
  EXPECT_HAS(e, "read as wrn-28-4 with 100 classes");
  std::remove(path.c_str());
}

TEST(ModelRecognition, ResNet50AndOtherResNets) {
  Rng rng(4);
  ModelConfig mc;
  mc.input_shape = {3, 64, 64};
  mc.num_classes = 1000;
  const Model m = build_model("resnet50", mc, rng);
  const std::string path = save_plain(m, "resnet50");
  NamedTensors file = load_safetensors(path);
  EXPECT_EQ(recognise_architecture(file, path), "resnet50");
  const ModelConfig got = infer_model_config("resnet50", file, {{}, {3, 64, 64}}, path);
  EXPECT_EQ(got.num_classes, 1000);
  EXPECT_EQ(got.input_shape, (Shape{3, 64, 64}));
  EXPECT_HAS(describe_recognised_model(file), "resnet50: 1000 classes, input 3 channels");
  // Without the last block of layer3 it is some other ResNet: none fits, and the message says why.
  NamedTensors cut;
  for (auto& [n, t] : file.tensors)
    if (n.rfind("layer3.5.", 0) != 0) cut.tensors.emplace_back(n, t);
  const std::string e = error_of([&] { recognise_architecture(cut, "r.safetensors"); });
  EXPECT_HAS(e, "[3, 4, 5, 3] blocks");
  EXPECT_HAS(e, "resnet50 needs");
  std::remove(path.c_str());
}

TEST(ModelRecognition, NoneOrSeveralCandidatesAreErrors) {
  NamedTensors odd;
  odd.tensors.emplace_back("encoder.weight", Tensor::zeros({4, 4}));
  std::string e = error_of([&] { recognise_architecture(odd, "odd.safetensors"); });
  EXPECT_HAS(e, "odd.safetensors");
  EXPECT_HAS(e, "fit none");
  for (const char* m : {"mnist-mlp needs fc1.weight", "cifar10-cnn needs", "wrn-D-K needs", "resnet50 needs",
                        "imdb-lstm needs embedding.weight"})
    EXPECT_HAS(e, m);
  EXPECT_HAS(e, "--model");
  EXPECT_EQ(describe_recognised_model(odd).rfind("not one of Signet's models", 0), 0u);

  NamedTensors both = load_safetensors(golden("state_dict_imdb_lstm.safetensors"));
  for (const char* n : {"fc1.weight", "fc2.weight", "fc3.weight"}) both.tensors.emplace_back(n, Tensor::zeros({2, 2}));
  e = error_of([&] { recognise_architecture(both, "both.safetensors"); });
  EXPECT_HAS(e, "fit several models (mnist-mlp, imdb-lstm)");
  EXPECT_HAS(e, "--model");
  // --model settles it; the extra tensors are then reported by the load.
  const std::string path = ::testing::TempDir() + "/both.safetensors";
  save_safetensors(path, both);
  e = error_of([&] { load_model(path, hints("imdb-lstm", {}, {9}), nullptr); });
  EXPECT_HAS(e, "unexpected tensor 'fc1.weight'");
  std::remove(path.c_str());
}

TEST(ModelRecognition, WrongShapesNameTheTensor) {
  NamedTensors f = load_safetensors(golden("state_dict_imdb_lstm.safetensors"));
  for (auto& [n, t] : f.tensors)
    if (n == "lstm.weight_hh_l0") t = Tensor::zeros({400, 99});
  const std::string path = ::testing::TempDir() + "/bad_lstm.safetensors";
  save_safetensors(path, f);
  const std::string e = error_of([&] { load_model(path, hints("", {}, {9}), nullptr); });
  EXPECT_HAS(e, "lstm.weight_hh_l0");
  EXPECT_HAS(e, "[400, 99]");
  EXPECT_HAS(e, "[400, 100]");
  // --model naming an architecture whose tensors the file lacks.
  const std::string other = error_of([&] { load_model(path, hints("resnet50", {3, 64, 64}), nullptr); });
  EXPECT_HAS(other, "no resnet50 tensor conv1.weight, layer1.0.conv3.weight, layer4.0.conv3.weight");
  EXPECT_HAS(other, "its tensors fit imdb-lstm");
  std::remove(path.c_str());
}

TEST(ModelRecognition, SignetFilesKeepTheirMetadata) {
  Rng rng(5);
  ModelConfig mc;
  mc.input_shape = {1, 28, 28};
  const Model m = build_model("mnist-mlp", mc, rng);
  const std::string path = ::testing::TempDir() + "/meta_mlp.safetensors";
  save_model(path, m, Normalization{{0.5f}, {0.25f}});
  Normalization norm;
  bool plain = true;
  Model back = load_model(path, hints("", {}, {1, 1, 784}), &norm, &plain);
  EXPECT_FALSE(plain);
  EXPECT_EQ(back.config.input_shape, (Shape{1, 28, 28}));  // the metadata wins over the data's shape
  EXPECT_EQ(norm.mean, std::vector<float>{0.5f});
  EXPECT_HAS(error_of([&] { load_model(path, hints("", {1, 1, 784}), nullptr); }),
             "not [1, 1, 784] as --input-shape says");
  ModelHints h;
  h.norm = {{0.1f}, {0.2f}};
  EXPECT_HAS(error_of([&] { load_model(path, h, nullptr); }), "records its own input normalisation");
  std::remove(path.c_str());
}

}  // namespace
}  // namespace signet
