// Synthetic data sets: see synthetic.h for the spec string and the contract.
#include "datasets/synthetic.h"

#include <algorithm>
#include <vector>

#include "engine/rng.h"

namespace signet {

namespace {

const char* kForm =
    "the form is synthetic[:SHAPE[:CLASSES[:NTRAIN[:NTEST[:SEED]]]]] with SHAPE CxHxW (images) or "
    "L / LvV (tokens), e.g. synthetic:3x64x64:1000 or synthetic:500v5002:2";

uint64_t mix64(uint64_t z) {  // splitmix64's finaliser: a bijective avalanche of the bits
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::vector<std::string> split_on(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    const size_t p = s.find(sep, start);
    out.push_back(s.substr(start, p == std::string::npos ? std::string::npos : p - start));
    if (p == std::string::npos) return out;
    start = p + 1;
  }
}

int64_t to_int(const std::string& field, const std::string& what, const std::string& spec,
               int64_t min) {
  bool ok = !field.empty() && field.size() <= 18;
  for (char c : field) ok = ok && c >= '0' && c <= '9';
  const int64_t v = ok ? std::stoll(field) : 0;
  if (!ok || v < min)
    throw Error(fmt::format("dataset '{}': {} '{}' must be an integer >= {}; {}", spec, what,
                            field, min, kForm));
  return v;
}

}  // namespace

SyntheticSpec parse_synthetic_spec(const std::string& spec) {
  SyntheticSpec s;
  const std::vector<std::string> f = split_on(spec, ':');
  if (f[0] != "synthetic")
    throw Error(fmt::format("dataset '{}' is not a synthetic spec; {}", spec, kForm));
  if (f.size() > 6)
    throw Error(fmt::format("dataset '{}': too many fields ({}); {}", spec, f.size() - 1, kForm));
  if (f.size() > 1 && !f[1].empty()) {
    const std::vector<std::string> vparts = split_on(f[1], 'v');
    const std::vector<std::string> dims = split_on(vparts[0], 'x');
    if (vparts.size() > 2 || (dims.size() != 1 && dims.size() != 3) ||
        (vparts.size() == 2 && dims.size() != 1))
      throw Error(fmt::format("dataset '{}': shape '{}' must be CxHxW (images, e.g. 3x32x32) or "
                              "L or LvV (tokens, e.g. 500v5002); {}",
                              spec, f[1], kForm));
    s.shape.clear();
    for (const auto& d : dims) s.shape.push_back(to_int(d, "shape dimension", spec, 1));
    if (dims.size() == 1) s.vocab_size = vparts.size() == 2 ? to_int(vparts[1], "vocabulary size", spec, 1) : 5002;
  }
  if (f.size() > 2 && !f[2].empty()) s.num_classes = to_int(f[2], "CLASSES", spec, 1);
  if (f.size() > 3 && !f[3].empty()) s.n_train = to_int(f[3], "NTRAIN", spec, 0);
  if (f.size() > 4 && !f[4].empty()) s.n_test = to_int(f[4], "NTEST", spec, 0);
  if (f.size() > 5 && !f[5].empty()) s.seed = static_cast<uint64_t>(to_int(f[5], "SEED", spec, 0));
  // Each split is allocated whole: refuse an absurd one here, naming the spec.
  const int64_t row = checked_numel(s.shape, fmt::format("dataset '{}': sample shape", spec), kMaxSampleElements);
  checked_mul(std::max(s.n_train, s.n_test), row, fmt::format("dataset '{}': samples x sample size", spec));
  return s;
}

Dataset make_synthetic(int64_t n, const Shape& shape, int64_t num_classes, uint64_t seed,
                       int64_t vocab_size) {
  const bool tokens = shape.size() == 1;
  SIGNET_CHECK(n >= 0, "make_synthetic: n must be >= 0, got {}", n);
  SIGNET_CHECK(num_classes >= 1, "make_synthetic: num_classes must be >= 1, got {}", num_classes);
  SIGNET_CHECK(shape.size() == 3 || (tokens && vocab_size > 0),
               "make_synthetic: shape must be [C, H, W] (images) or [L] with vocab_size > 0 "
               "(tokens), got {} with vocab_size {}",
               shape_str(shape), vocab_size);
  for (int64_t d : shape)
    SIGNET_CHECK(d >= 1, "make_synthetic: every dimension of shape {} must be >= 1", shape_str(shape));
  Dataset ds;
  ds.name = "synthetic";
  ds.num_classes = num_classes;
  Shape full{n};
  full.insert(full.end(), shape.begin(), shape.end());
  ds.images = Tensor::empty(full, tokens ? DType::I64 : DType::F32);
  ds.labels = Tensor::empty({n}, DType::I64);
  if (tokens) ds.vocab_size = vocab_size;
  const int64_t row = shape_numel(shape);
  int64_t* lab = ds.labels.i64();
  float* img = tokens ? nullptr : ds.images.f32();
  int64_t* tok = tokens ? ds.images.i64() : nullptr;
  const uint64_t base = mix64(seed ^ 0x5e7e7a11c0ffee00ULL);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    Rng rng(mix64(base + static_cast<uint64_t>(i)));
    lab[i] = static_cast<int64_t>(rng.below(static_cast<uint64_t>(num_classes)));
    if (tokens) {
      for (int64_t k = 0; k < row; ++k)
        tok[i * row + k] = static_cast<int64_t>(rng.below(static_cast<uint64_t>(vocab_size)));
    } else {
      for (int64_t k = 0; k < row; ++k) img[i * row + k] = static_cast<float>(rng.uniform());
    }
  }
  return ds;
}

Dataset load_synthetic(const SyntheticSpec& spec, const std::string& split) {
  if (split != "train" && split != "test")
    throw Error(fmt::format("unknown split '{}' for dataset synthetic: use 'train' or 'test'", split));
  const bool train = split == "train";
  // Distinct, seed-derived streams for the two splits.
  const uint64_t seed = mix64(spec.seed * 2 + (train ? 0 : 1));
  return make_synthetic(train ? spec.n_train : spec.n_test, spec.shape, spec.num_classes, seed,
                        spec.vocab_size);
}

}  // namespace signet
