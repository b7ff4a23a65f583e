// Reader for the binary version of CIFAR-10 (https://www.cs.toronto.edu/~kriz/cifar.html,
// file cifar-10-binary.tar.gz, which unpacks to a folder cifar-10-batches-bin/).
//
// On-disk format: data_batch_1.bin .. data_batch_5.bin (train, 10000 records each) and
// test_batch.bin (test). A record is 3073 bytes: 1 label byte (0..9), then 3072 pixel bytes:
// 1024 red, 1024 green, 1024 blue, each a row-major 32 x 32 plane. No header, no padding.
//
// Result: images float32 [N, 3, 32, 32] = byte / 255 (in [0, 1]), labels int64 [N], 10 classes,
// records in file order (train: batch 1 first). Dataset name "cifar10".
//
// Where the files are looked for: data_dir itself, then data_dir/cifar-10-batches-bin. There is
// no default directory; an empty data_dir or missing files throw Error saying where to put them.
// Validation: a file whose size is zero or not a multiple of 3073 bytes (truncated, or not a
// CIFAR-10 batch), or a label byte above 9 (a CIFAR-100 file, say), throws Error naming the file.
#pragma once
#include <string>
#include <vector>

#include "datasets/dataset.h"

namespace signet {

constexpr int64_t kCifarSide = 32;
constexpr int64_t kCifarPixels = 3 * kCifarSide * kCifarSide;  // 3072
constexpr int64_t kCifarRecord = 1 + kCifarPixels;              // 3073

// The directory holding the batch files for data_dir (see above). Throws Error if not found.
std::string find_cifar10_dir(const std::string& data_dir);

// Reads and concatenates the given batch files (in order) into a Dataset named `name`.
Dataset read_cifar10_files(const std::vector<std::string>& paths, const std::string& name = "cifar10");

// split: "train" (data_batch_1..5.bin) or "test" (test_batch.bin).
Dataset load_cifar10(const std::string& split, const std::string& data_dir);

}  // namespace signet
