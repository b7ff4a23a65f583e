#include "watermark/verify/keys_file.h"

#include "engine/serialize/atomic_file.h"
#include "engine/serialize/file_read.h"

namespace signet {

std::string write_keys_file(const std::string& path, NamedTensors nt, const std::string& scheme,
                            const Normalization& norm) {
  nt.metadata["signet.format"] = "keys";
  nt.metadata["signet.scheme"] = scheme;
  nt.metadata["signet.input_mean"] = join_floats(norm.mean);
  nt.metadata["signet.input_std"] = join_floats(norm.stddev);
  const std::string bytes = encode_safetensors(nt);
  write_file_atomic(path, bytes, 0600);  // keys are secrets
  return sha256_hex(bytes);
}

const std::string& KeysFile::meta(const std::string& key) const {
  auto it = nt.metadata.find(key);
  SIGNET_CHECK(it != nt.metadata.end(), "{}: not a Signet keys file (no '{}' in its metadata)", path, key);
  return it->second;
}

Normalization KeysFile::norm() const {
  Normalization n;
  n.mean = split_floats(meta("signet.input_mean"), path + ": signet.input_mean");
  n.stddev = split_floats(meta("signet.input_std"), path + ": signet.input_std");
  SIGNET_CHECK(n.mean.size() == n.stddev.size(), "{}: input mean and std have different lengths", path);
  return n;
}

KeysFile read_keys_file(const std::string& path) {
  KeysFile kf;
  kf.path = path;
  const std::string bytes = read_file(path);
  kf.nt = decode_safetensors(bytes, path);
  kf.sha256 = sha256_hex(bytes);
  SIGNET_CHECK(kf.meta("signet.format") == "keys", "{}: is a {} file, not a keys file", path, kf.meta("signet.format"));
  kf.scheme = kf.meta("signet.scheme");
  return kf;
}

}  // namespace signet
