// IDX file reader (the format of MNIST and Fashion-MNIST, http://yann.lecun.com/exdb/mnist/).
//
// Contract:
//  - An IDX file is a 4-byte magic (0x00 0x00 <type> <ndim>), ndim big-endian uint32 dims, then
//    exactly prod(dims) elements. Only type 0x08 (unsigned byte) is accepted, with 1 to 4 dims:
//    0x00000801 is a label file, 0x00000803 an image file.
//  - Input may be raw or gzip-compressed; gzip is detected by its magic (1f 8b), not by the file
//    name, so a renamed file still loads.
//  - Everything is validated: magic, dims (non-zero, no overflow), an exact payload size
//    (truncated or trailing bytes are errors), gzip integrity (CRC, truncation, trailing bytes).
//    Every failure throws signet::Error whose message names the file path. Nothing crashes.
//  - Memory is bounded by what the header declares: a gzip stream is inflated header first,
//    then exactly the declared payload, so a stream that inflates further (a gzip bomb) is
//    refused without allocating more. A declared size above 2 GiB is refused.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace signet {

// A decoded IDX array of unsigned bytes.
struct IdxArray {
  std::vector<int64_t> dims;  // e.g. {60000, 28, 28} or {60000}
  std::vector<uint8_t> data;  // row-major, size == product of dims
};

// True when the bytes start with the gzip magic 1f 8b.
bool is_gzip(const std::vector<uint8_t>& bytes);

// Parses IDX bytes (raw or gzip). `path` is only for messages.
IdxArray parse_idx(const std::vector<uint8_t>& bytes, const std::string& path);

// read_file_bytes (engine/serialize/file_read.h) + parse_idx.
IdxArray read_idx(const std::string& path);

// An image file (magic 0x00000803) -> float32 [N, 1, H, W], pixel / 255 (so in [0, 1]).
Tensor read_idx_images(const std::string& path);

// A label file (magic 0x00000801) -> int64 [N].
Tensor read_idx_labels(const std::string& path);

}  // namespace signet
