// The small model the checkpoint harness restores into, and the corpus generator saves from.
#pragma once
#include <memory>

#include "layers/layers.h"
#include "models/registry.h"

namespace signet::fuzz {

inline Model checkpoint_fuzz_model() {
  Rng rng(1);
  Model m;
  m.name = "fuzz-mlp";
  m.config.input_shape = {1, 2, 2};
  m.config.num_classes = 3;
  auto net = std::make_shared<Sequential>("FuzzMLP");
  net->add("flatten", std::make_shared<Flatten>());
  net->add("fc1", std::make_shared<Linear>(4, 3, true, rng));
  net->add("relu1", std::make_shared<ReLU>());
  net->add("fc2", std::make_shared<Linear>(3, 3, true, rng));
  m.net = net;
  return m;
}

}  // namespace signet::fuzz
