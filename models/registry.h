// Models by name. Each entry builds a Module from a small config, so the paper's benchmarks
// and smaller teaching versions share one code path. Parameter and buffer names are those of
// the PyTorch module named below (state dicts move both ways unchanged); every layer is a
// module, so its full name is also an activation tap (Module::operator(), Taps). The tap a
// DeepSigns hidden-layer watermark uses (the second-to-last layer) is marked "WM tap".
//
// mnist-mlp: DeepSigns Table 2, 784-512FC-512FC-10FC with ReLU. Takes N x 1 x 28 x 28 images
//   (any N x C x H x W with C*H*W = 784) and flattens them. Layers (and tap names):
//   flatten, fc1, relu1, fc2, relu2 (WM tap, [N, 512]), fc3. Parameters: fc{1,2,3}.{weight,bias}.
//
// cifar10-cnn (models/cifar10_cnn.cpp): DeepSigns Table 2,
//   C*H*W - 32C3 - 32C3 - MP2 - 64C3 - 64C3 - MP2 - 512FC - 10FC with ReLU; every conv 3x3,
//   stride 1, padding 1 ("same"); MP2 = 2x2 max-pool, stride 2. Input [N, C, H, W] from
//   config.input_shape (3x32x32 CIFAR-10, 1x28x28 Fashion-MNIST; H, W >= 4).
//   Layers: features.0 conv, .1 relu, .2 conv, .3 relu, .4 pool, .5 conv, .6 relu, .7 conv,
//   .8 relu, .9 pool; flatten; classifier.0 dropout, .1 Linear(64*(H/4)*(W/4), 512),
//   .2 relu (WM tap, [N, 512]), .3 dropout, .4 Linear(512, classes). The dropouts (p =
//   config.dropout) exist only when p > 0; the indices stay those of the PyTorch
//   nn.Sequential that always has them (tests/golden/make_cnn.py, Cifar10CNN).
//   PyTorch's default initialisation.
//
// wrn-D-K (models/wide_resnet.cpp), e.g. wrn-16-4, wrn-28-10: Wide ResNet (Zagoruyko &
//   Komodakis 2016) with the names of the common PyTorch implementation (xternalz/
//   WideResNet-pytorch; tests/golden/make_wrn.py, WideResNet): conv1 (3x3, 16), block1..3 each
//   `layer.<i>` of n = (D-4)/6 pre-activation basic blocks (bn1, relu1, conv1, bn2, relu2,
//   [dropout p = config.dropout], conv2, and convShortcut 1x1 when the width changes; the
//   shortcut and conv1 then take relu1(bn1(x)), else x is added unchanged), widths 16K, 32K,
//   64K, strides 1, 2, 2; then bn1, relu, pool (global average, WM tap, [N, 64K]), fc.
//   Convs have no bias; conv weights ~ N(0, 2 / (k*k*out)), BN 1/0, fc bias 0 (that
//   implementation's init). D-4 must be a positive multiple of 6.
//   (The reference uses avg_pool2d(8), equal to the global average at 32x32 input; the global
//   average also takes 28x28.)
//
// resnet50 (models/resnet50.cpp): torchvision's resnet50 (v1.5: stride on the 3x3 conv),
//   same names: conv1 (7x7/2), bn1, relu, maxpool (3x3/2, pad 1), layer1..4 with [3, 4, 6, 3]
//   Bottlenecks (conv1 1x1, bn1, conv2 3x3 (stride), bn2, conv3 1x1 (x4), bn3, relu,
//   downsample.0 conv 1x1 / downsample.1 bn on the first block of each stage), avgpool
//   (global average, WM tap, [N, 2048]), fc. num_classes and input size from the config
//   (default 1000 and 3x224x224; H, W >= 32). torchvision's init (conv kaiming_normal fan_out,
//   BN 1/0, fc PyTorch default). A torchvision resnet50 state dict loads unchanged.
//
// imdb-lstm (models/imdb_lstm.cpp): DeepSigns Section 6: embedding (Embedding(V, 32)) ->
//   lstm (LSTM(32, 100), batch-first, its last hidden state h_n; WM tap, [N, 100]) -> fc
//   (Linear(100, 1)): one logit, trained with sigmoid + binary cross-entropy (Model::loss =
//   "bce"; label 1 = positive). Input int64 token ids [N, L], config.input_shape = {L}.
//   V = config.vocab_size: the imdb loader's words + 2 (0 = padding, 1 = out-of-vocabulary),
//   so the paper's 5000 words give V = 5002 (the default when vocab_size is 0).
//   Names: embedding.weight, lstm.{weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0},
//   fc.{weight, bias} (tests/golden/make_imdb_lstm.py, ImdbLSTM).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "engine/rng.h"
#include "layers/module.h"

namespace signet {

struct ModelConfig {
  int64_t num_classes = 10;         // classes of the task (2 for imdb-lstm, which has one logit)
  Shape input_shape = {1, 28, 28};  // C, H, W for image models; {L} for token models
  float dropout = 0.0f;
  int64_t vocab_size = 0;           // token models: ids in [0, vocab_size); 0 = the model's default
};

struct Model {
  std::string name;
  ModelConfig config;
  std::shared_ptr<Module> net;
  // The training loss: "cross_entropy" (logits [N, classes], int64 labels) or "bce"
  // (one logit [N, 1], sigmoid + binary cross-entropy against labels 0 / 1). See
  // models/trainer.h (model_loss, count_correct).
  std::string loss = "cross_entropy";
  Tensor operator()(const Tensor& x, Taps* taps = nullptr) { return (*net)(x, taps); }
  bool takes_tokens() const { return config.input_shape.size() == 1; }
};

// Builds `name` with parameters drawn from init_rng; unknown names are an Error listing the known ones.
Model build_model(const std::string& name, const ModelConfig& config, Rng& init_rng);
// The listed names (wrn-D-K accepts any valid D, K; the list shows wrn-16-4 and wrn-28-10).
std::vector<std::string> model_names();
// Error listing the known models when `name` is not one (checked before any data is loaded).
void require_model_name(const std::string& name);
// The paper's configuration of a model: its data set's classes and input shape (mnist-mlp and
// cifar10-cnn: 10 classes, 1x28x28 / 3x32x32; wrn-*: 10, 3x32x32; resnet50: 1000, 3x224x224;
// imdb-lstm: 2 classes, {500} tokens, vocab_size 5002). Used by `signet bench`.
ModelConfig default_model_config(const std::string& name);
// The tap DeepSigns watermarks by default: the second-to-last layer ("relu2", "classifier.2",
// "pool", "avgpool", "lstm").
std::string penultimate_tap(const std::string& name);
// wrn-D-K: true and D, K when `name` has that form (D-4 a positive multiple of 6, K >= 1);
// false when it does not start with "wrn-"; an Error saying what is wrong otherwise.
bool parse_wrn_name(const std::string& name, int64_t* depth, int64_t* widen);

}  // namespace signet
