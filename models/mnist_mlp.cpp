#include <memory>

#include "layers/layers.h"
#include "models/registry.h"

namespace signet {

std::shared_ptr<Module> make_mnist_mlp(const ModelConfig& c, Rng& rng) {
  SIGNET_CHECK(c.input_shape.size() == 3, "mnist-mlp: input shape must be C,H,W, got {}", shape_str(c.input_shape));
  const int64_t in = shape_numel(c.input_shape);
  auto net = std::make_shared<Sequential>("MnistMLP");
  net->add("flatten", std::make_shared<Flatten>());
  net->add("fc1", std::make_shared<Linear>(in, 512, true, rng));
  net->add("relu1", std::make_shared<ReLU>());
  if (c.dropout > 0) net->add("drop1", std::make_shared<Dropout>(c.dropout));
  net->add("fc2", std::make_shared<Linear>(512, 512, true, rng));
  net->add("relu2", std::make_shared<ReLU>());
  if (c.dropout > 0) net->add("drop2", std::make_shared<Dropout>(c.dropout));
  net->add("fc3", std::make_shared<Linear>(512, c.num_classes, true, rng));
  return net;
}

}  // namespace signet
