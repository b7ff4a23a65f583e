// cifar10-cnn: DeepSigns Table 2 CNN (see models/registry.h for the layer names and taps).
#include <memory>

#include "layers/conv_layers.h"
#include "layers/layers.h"
#include "models/model_util.h"

namespace signet {

std::shared_ptr<Module> make_cifar10_cnn(const ModelConfig& c, Rng& rng) {
  model_util::require_image_input("cifar10-cnn", c, 4);
  const int64_t C = c.input_shape[0], H = c.input_shape[1], W = c.input_shape[2];
  auto features = std::make_shared<Sequential>("Sequential");
  features->add("0", std::make_shared<Conv2d>(C, 32, 3, 1, 1, true, rng));
  features->add("1", std::make_shared<ReLU>());
  features->add("2", std::make_shared<Conv2d>(32, 32, 3, 1, 1, true, rng));
  features->add("3", std::make_shared<ReLU>());
  features->add("4", std::make_shared<MaxPool2d>(2, 2));
  features->add("5", std::make_shared<Conv2d>(32, 64, 3, 1, 1, true, rng));
  features->add("6", std::make_shared<ReLU>());
  features->add("7", std::make_shared<Conv2d>(64, 64, 3, 1, 1, true, rng));
  features->add("8", std::make_shared<ReLU>());
  features->add("9", std::make_shared<MaxPool2d>(2, 2));
  // Two 2x2/2 pools (floor): 32 -> 16 -> 8, 28 -> 14 -> 7.
  const int64_t flat = 64 * ((H / 2) / 2) * ((W / 2) / 2);
  auto classifier = std::make_shared<Sequential>("Sequential");
  if (c.dropout > 0) classifier->add("0", std::make_shared<Dropout>(c.dropout));
  classifier->add("1", std::make_shared<Linear>(flat, 512, true, rng));
  classifier->add("2", std::make_shared<ReLU>());
  if (c.dropout > 0) classifier->add("3", std::make_shared<Dropout>(c.dropout));
  classifier->add("4", std::make_shared<Linear>(512, c.num_classes, true, rng));
  auto net = std::make_shared<Sequential>("Cifar10CNN");
  net->add("features", features);
  net->add("flatten", std::make_shared<Flatten>());
  net->add("classifier", classifier);
  return net;
}

}  // namespace signet
