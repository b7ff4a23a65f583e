// Synthetic data sets: seeded random inputs of any model's input shape, for profiling and smoke
// tests (there is nothing to learn: labels are independent of the inputs).
//
// make_synthetic(n, shape, num_classes, seed, vocab_size):
//  - shape [C, H, W]: images float32 [n, C, H, W], every pixel uniform in [0, 1].
//  - shape [L] with vocab_size > 0: tokens int64 [n, L], every id uniform in [0, vocab_size);
//    the Dataset's vocab_size is set (vocab stays empty).
//  - labels int64 [n], uniform in [0, num_classes).
//  Sample i is drawn from its own generator seeded by (seed, i), so it depends only on
//  (seed, i, shape, classes): the first k samples of a larger set equal a set of k samples.
//
// load_dataset spec (one string a CLI flag can carry; every field optional, an empty field keeps
// its default):
//     synthetic[:SHAPE[:CLASSES[:NTRAIN[:NTEST[:SEED]]]]]
//   SHAPE    "CxHxW" for images (default 3x32x32), or "L" / "LvV" for token sequences of length
//            L with vocabulary size V (V defaults to 5002, the size of imdb's default vocabulary)
//   CLASSES  number of classes (default 10)
//   NTRAIN   samples in the train split (default 1024)
//   NTEST    samples in the test split (default 256)
//   SEED     base seed (default 0); train and test use different seeds derived from it
// Examples: "synthetic" (1024/256 of 3x32x32, 10 classes), "synthetic:3x64x64:1000",
// "synthetic:1x28x28::60000:10000", "synthetic:500v5002:2" (imdb-shaped tokens, 2 classes).
#pragma once
#include <string>

#include "datasets/dataset.h"

namespace signet {

struct SyntheticSpec {
  Shape shape{3, 32, 32};  // [C, H, W] images, or [L] tokens
  int64_t vocab_size = 0;  // tokens only (> 0); 0 for images
  int64_t num_classes = 10;
  int64_t n_train = 1024, n_test = 256;
  uint64_t seed = 0;
};

// Parses "synthetic[:...]" (see above). Throws Error naming the bad field and the expected form.
SyntheticSpec parse_synthetic_spec(const std::string& spec);

Dataset make_synthetic(int64_t n, const Shape& shape, int64_t num_classes, uint64_t seed,
                       int64_t vocab_size = 0);

// The split ("train" or "test") of a parsed spec.
Dataset load_synthetic(const SyntheticSpec& spec, const std::string& split);

}  // namespace signet
