// CIFAR-10 binary reader: see cifar10.h for the format and the contract.
#include "datasets/cifar10.h"

#include <sys/stat.h>

#include <cstring>

#include "engine/serialize/file_read.h"

namespace signet {

namespace {

const char* kHowToGet =
    "download https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz, unpack it (tar xzf) and "
    "give the folder cifar-10-batches-bin (or the folder that holds it) as the data dir";

bool is_file(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool is_dir(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::vector<std::string> batch_names(const std::string& split) {
  if (split == "test") return {"test_batch.bin"};
  std::vector<std::string> v;
  for (int i = 1; i <= 5; ++i) v.push_back(fmt::format("data_batch_{}.bin", i));
  return v;
}

}  // namespace

std::string find_cifar10_dir(const std::string& data_dir) {
  if (data_dir.empty())
    throw Error(fmt::format("dataset 'cifar10' has no default location: {}", kHowToGet));
  std::string dir = data_dir;
  if (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  if (!is_dir(dir))
    throw Error(fmt::format("dataset 'cifar10': data dir '{}' does not exist; {}", dir, kHowToGet));
  // The folder holding any batch file wins; the unpacked tarball's subfolder is the fallback.
  for (const std::string& cand : {dir, dir + "/cifar-10-batches-bin"})
    if (is_file(cand + "/test_batch.bin") || is_file(cand + "/data_batch_1.bin")) return cand;
  throw Error(fmt::format("dataset 'cifar10': no CIFAR-10 batch files (data_batch_1.bin .. "
                          "data_batch_5.bin, test_batch.bin) in '{}' or '{}/cifar-10-batches-bin'; {}",
                          dir, dir, kHowToGet));
}

Dataset read_cifar10_files(const std::vector<std::string>& paths, const std::string& name) {
  // Size every file first so the output is allocated once and a bad size fails before any work.
  std::vector<std::vector<uint8_t>> files;
  int64_t n = 0;
  for (const auto& p : paths) {
    files.push_back(read_file_bytes(p, file_kind::kDataset));
    const auto sz = static_cast<int64_t>(files.back().size());
    if (sz == 0 || sz % kCifarRecord != 0)
      throw Error(fmt::format("dataset '{}': '{}' has {} bytes, not a positive multiple of {} "
                              "(1 label byte + 3072 pixel bytes per record); the file is "
                              "truncated or not a CIFAR-10 binary batch: download it again",
                              name, p, sz, kCifarRecord));
    n += sz / kCifarRecord;
  }
  Dataset ds;
  ds.name = name;
  ds.num_classes = 10;
  ds.images = Tensor::empty({n, 3, kCifarSide, kCifarSide}, DType::F32);
  ds.labels = Tensor::empty({n}, DType::I64);
  float* img = ds.images.f32();
  int64_t* lab = ds.labels.i64();
  int64_t i = 0;
  for (size_t f = 0; f < files.size(); ++f) {
    const uint8_t* rec = files[f].data();
    const int64_t recs = static_cast<int64_t>(files[f].size()) / kCifarRecord;
    for (int64_t r = 0; r < recs; ++r, ++i, rec += kCifarRecord) {
      if (rec[0] > 9)
        throw Error(fmt::format("dataset '{}': '{}': record {} has label {}, outside [0, 10); the "
                                "file is damaged or not a CIFAR-10 batch (CIFAR-100 files have "
                                "two label bytes)",
                                name, paths[f], r, int(rec[0])));
      lab[i] = rec[0];
      // The record's plane order (R, G, B, each row-major 32 x 32) is exactly [3, 32, 32].
      float* d = img + i * kCifarPixels;
      for (int64_t k = 0; k < kCifarPixels; ++k) d[k] = float(rec[1 + k]) / 255.0f;
    }
  }
  return ds;
}

Dataset load_cifar10(const std::string& split, const std::string& data_dir) {
  if (split != "train" && split != "test")
    throw Error(fmt::format("unknown split '{}' for dataset cifar10: use 'train' or 'test'", split));
  const std::string dir = find_cifar10_dir(data_dir);
  std::vector<std::string> paths;
  for (const auto& b : batch_names(split)) {
    const std::string p = dir + "/" + b;
    if (!is_file(p))
      throw Error(fmt::format("dataset 'cifar10': missing file '{}' (the {} split needs {}); {}",
                              p, split,
                              split == "train" ? "data_batch_1.bin .. data_batch_5.bin"
                                               : "test_batch.bin",
                              kHowToGet));
    paths.push_back(p);
  }
  return read_cifar10_files(paths, "cifar10");
}

}  // namespace signet
