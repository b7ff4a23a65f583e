// safetensors: the file format for models, checkpoints and keys, shared with PyTorch.
//
// Layout: u64 little-endian header length N, N bytes of UTF-8 JSON
//   {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {"key": "value"}}
// then the raw little-endian data; offsets are relative to the start of the data section,
// which must be covered exactly (no holes, no overlaps, nothing after the last tensor).
//
// Writing: F32 and I64 only, data in insertion order, header padded with spaces so the data
// starts 8-byte aligned (as the reference implementation does). Reading also converts what
// PyTorch users save: F64, F16, BF16, U8, I8, BOOL -> float32; I32, I16, U16, U32, U64 -> int64.
// Every malformed input is an Error naming the source, never a crash or an unbounded
// allocation: nothing is allocated beyond what the file's own bytes pay for.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace signet {

struct NamedTensors {  // insertion order preserved for writing
  std::vector<std::pair<std::string, Tensor>> tensors;
  std::map<std::string, std::string> metadata;  // the "__metadata__" string->string map
  const Tensor* find(const std::string& name) const;  // nullptr if absent
  const Tensor& at(const std::string& name) const;    // Error naming it and listing what exists
};

std::string encode_safetensors(const NamedTensors& nt);  // the file's bytes
// source_name (usually the path) is named in every error.
NamedTensors decode_safetensors(const std::string& bytes, const std::string& source_name);
void save_safetensors(const std::string& path, const NamedTensors& nt);  // atomic
NamedTensors load_safetensors(const std::string& path);

// The validated header alone, for tools that report on a file (signet info) without
// trusting it: entries are sorted by data offset, which is the writer's insertion order.
struct SafetensorsEntry {
  std::string name;
  std::string dtype;   // as stored in the file: "F32", "BF16", ...
  Shape shape;
  uint64_t begin = 0;  // byte offsets into the data section
  uint64_t end = 0;
};
struct SafetensorsHeader {
  std::vector<SafetensorsEntry> entries;
  std::map<std::string, std::string> metadata;
  uint64_t data_start = 0;  // 8 + header length: where the data section begins in the file
};
SafetensorsHeader parse_safetensors_header(const std::string& bytes,
                                           const std::string& source_name);

}  // namespace signet
