// Models by name. Each entry builds a Module from a small config, so the paper's benchmarks
// and smaller teaching versions share one code path.
//
// mnist-mlp: DeepSigns Table 2, 784-512FC-512FC-10FC with ReLU. Takes N x 1 x 28 x 28 images
//   (any N x C x H x W with C*H*W = 784) and flattens them. Layers (and tap names):
//   flatten, fc1, relu1, fc2, relu2, fc3. Parameters: fc{1,2,3}.{weight,bias}.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "engine/rng.h"
#include "layers/module.h"

namespace signet {

struct ModelConfig {
  int64_t num_classes = 10;
  Shape input_shape = {1, 28, 28};  // C, H, W
  float dropout = 0.0f;
};

struct Model {
  std::string name;
  ModelConfig config;
  std::shared_ptr<Module> net;
  Tensor operator()(const Tensor& x, Taps* taps = nullptr) { return (*net)(x, taps); }
};

// Builds `name` with parameters drawn from init_rng; unknown names are an Error listing the known ones.
Model build_model(const std::string& name, const ModelConfig& config, Rng& init_rng);
std::vector<std::string> model_names();
// Error listing the known models when `name` is not one (checked before any data is loaded).
void require_model_name(const std::string& name);

}  // namespace signet
