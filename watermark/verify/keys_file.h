// Keys files, shared by every scheme: safetensors tensors + string metadata, written atomically
// with mode 0600 (keys are secrets). The file's SHA-256 identifies the keys in every report.
#pragma once
#include <string>

#include "engine/serialize/safetensors.h"
#include "models/model_io.h"

namespace signet {

// Adds signet.format = keys, signet.scheme and the input normalisation to nt's metadata, writes
// it to `path` (0600, atomic) and returns the file's SHA-256.
std::string write_keys_file(const std::string& path, NamedTensors nt, const std::string& scheme,
                            const Normalization& norm);

struct KeysFile {
  std::string path, sha256, scheme;
  NamedTensors nt;
  // The metadata value under `key`; an Error naming the file when absent.
  const std::string& meta(const std::string& key) const;
  Normalization norm() const;
};

// Reads and checks that it is a keys file (any scheme; the caller checks kf.scheme).
KeysFile read_keys_file(const std::string& path);

}  // namespace signet
