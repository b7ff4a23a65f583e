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
//    Every failure throws signet::Error whose message names the file path. Nothing crashes and
//    nothing allocates more than the (decompressed) file size on a bad header.
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

// Reads a whole file into memory. Throws Error naming the path if it cannot be opened or read.
std::vector<uint8_t> read_file_bytes(const std::string& path);

// True when the bytes start with the gzip magic 1f 8b.
bool is_gzip(const std::vector<uint8_t>& bytes);

// Decompresses a gzip stream (one or more concatenated members). `path` is only for messages.
std::vector<uint8_t> gunzip(const std::vector<uint8_t>& bytes, const std::string& path);

// Parses IDX bytes (raw or gzip). `path` is only for messages.
IdxArray parse_idx(const std::vector<uint8_t>& bytes, const std::string& path);

// read_file_bytes + parse_idx.
IdxArray read_idx(const std::string& path);

// An image file (magic 0x00000803) -> float32 [N, 1, H, W], pixel / 255 (so in [0, 1]).
Tensor read_idx_images(const std::string& path);

// A label file (magic 0x00000801) -> int64 [N].
Tensor read_idx_labels(const std::string& path);

}  // namespace signet
