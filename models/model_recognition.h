// Models as users bring them: a plain state dict (PyTorch's `save_file(model.state_dict())`)
// has no Signet metadata, so the architecture and its configuration are read off the tensors'
// names and shapes (the PyTorch names of models/registry.h):
//   mnist-mlp     fc1/fc2/fc3            classes = fc3 rows; C*H*W = fc1 columns
//   cifar10-cnn   features.*, classifier.*  classes = classifier.4 rows; C = features.0
//                                        in-channels, (H/4)*(W/4) = classifier.1 columns / 64
//   wrn-D-K       conv1, block1..3.layer.<i>, fc   D = 6 * (blocks per group) + 4,
//                                        K = block1's width / 16; classes = fc rows; C = conv1's
//   resnet50      conv1, layer1..4 Bottlenecks [3, 4, 6, 3], fc   classes = fc rows; C = conv1's
//   imdb-lstm     embedding, lstm, fc    one logit = 2 classes; vocabulary = embedding rows
// The input shape comes from the caller (--input-shape, a data set, an input tensor) and is
// checked against what the weights fix; without one it is taken from the weights only where they
// fix it: mnist-mlp (one grey square image when C*H*W is a square, else 1x1xN) and cifar10-cnn
// (a square image when (H/4)*(W/4) is a square). Otherwise an Error asks for --input-shape.
#pragma once
#include <string>
#include <vector>

#include "engine/serialize/safetensors.h"
#include "models/registry.h"

namespace signet {

// The input shapes a caller knows of, strongest first.
struct InputShapeHints {
  Shape given;  // --input-shape: must fit the weights
  Shape data;   // a data set's / input tensor's / keys' inputs: used when it fits the weights
  std::string data_from = "the data";  // names `data` in messages: "the inputs of <data_from> are ..."
};

// The architectures whose characteristic tensors the file holds (usually one; none or several
// for a file that is not one of Signet's models).
std::vector<std::string> matching_architectures(const NamedTensors& file);
// The one architecture the tensors say; an Error listing what each candidate needs (none fits)
// or the candidates (several fit), and asking for --model.
std::string recognise_architecture(const NamedTensors& file, const std::string& path);
// The configuration of `name` (a model name, e.g. from --model) that the weights imply, with the
// input shape from `hints` or the weights; dropout 0. Errors name the tensor or the flag to give.
ModelConfig infer_model_config(const std::string& name, const NamedTensors& file, const InputShapeHints& hints,
                               const std::string& path);
// For a file with Signet metadata, before a model is built (and allocated) from it: the
// configuration the metadata states (classes, vocabulary, input shape, and for wrn-D-K the depth
// and width) must be what the weights fix, so a hand-edited header cannot make the model far
// larger than the file. `weights` are the model's tensors (without a checkpoint's "model."
// prefix). Errors name the metadata key and the tensor.
void check_config_against_weights(const std::string& name, const ModelConfig& config, const NamedTensors& weights,
                                  const std::string& path);
// What the weights say about the model, in one line, for `signet info` ("resnet50: 1000 classes,
// input 3 channels, any H, W (give --input-shape)"), or why they say nothing.
std::string describe_recognised_model(const NamedTensors& file);

}  // namespace signet
