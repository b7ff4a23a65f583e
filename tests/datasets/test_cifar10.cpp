// CIFAR-10 binary reader: record layout, batch order, the cifar-10-batches-bin subfolder, and
// errors (missing dir/file, truncated or empty file, label out of range) that name the path.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "datasets/cifar10.h"
#include "engine/rng.h"

using namespace signet;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    std::string t = (fs::temp_directory_path() / "signet_cifar_XXXXXX").string();
    path = ::mkdtemp(t.data());
  }
  ~TempDir() { fs::remove_all(path); }
};

// Byte k of record r's pixels: a pattern that differs per record, channel and position.
uint8_t pixel(int r, int k) { return uint8_t((k * 7 + r * 13 + k / 1024) % 256); }

std::vector<uint8_t> records(int n, int first_label, int record_base = 0) {
  std::vector<uint8_t> b;
  for (int r = 0; r < n; ++r) {
    b.push_back(uint8_t((first_label + r) % 10));
    for (int k = 0; k < 3072; ++k) b.push_back(pixel(record_base + r, k));
  }
  return b;
}

void write(const std::string& path, const std::vector<uint8_t>& b) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

// Expects an Error whose message contains every needle.
template <class F>
void expect_error(F&& f, const std::vector<std::string>& needles) {
  try {
    f();
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    for (const auto& n : needles)
      EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what() << "\n  lacks: " << n;
  }
}

}  // namespace

TEST(Cifar10, ParsesRecordLayout) {
  TempDir d;
  write(d.path + "/test_batch.bin", records(3, 7));
  const Dataset ds = load_dataset("cifar10", "test", d.path);
  EXPECT_EQ(ds.name, "cifar10");
  EXPECT_EQ(ds.num_classes, 10);
  EXPECT_FALSE(ds.is_tokens());
  ASSERT_EQ(ds.images.shape(), (Shape{3, 3, 32, 32}));
  EXPECT_EQ(ds.labels.to_vector_i64(), (std::vector<int64_t>{7, 8, 9}));
  const float* p = ds.images.f32();
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 32; y += 5)
        for (int x = 0; x < 32; x += 3) {
          const int k = c * 1024 + y * 32 + x;  // R plane, G plane, B plane, row-major
          ASSERT_EQ(p[((r * 3 + c) * 32 + y) * 32 + x], float(pixel(r, k)) / 255.0f);
        }
}

TEST(Cifar10, TrainConcatenatesBatchesInOrderAndAcceptsSubfolder) {
  TempDir d;
  const std::string sub = d.path + "/cifar-10-batches-bin";
  int base = 0;
  for (int i = 1; i <= 5; ++i) {
    write(sub + "/data_batch_" + std::to_string(i) + ".bin", records(i, i, base));
    base += i;
  }
  for (const std::string& dir : {d.path, sub, sub + "/"}) {
    const Dataset ds = load_cifar10("train", dir);
    ASSERT_EQ(ds.size(), 15);
    // Batch i holds i records with labels i, i+1, ...: batch 1 first.
    EXPECT_EQ(ds.labels.to_vector_i64(),
              (std::vector<int64_t>{1, 2, 3, 3, 4, 5, 4, 5, 6, 7, 5, 6, 7, 8, 9}));
    EXPECT_EQ(ds.images.f32()[14 * 3072 + 5], float(pixel(14, 5)) / 255.0f);
  }
  // The test split's file is missing.
  expect_error([&] { load_cifar10("test", d.path); }, {"test_batch.bin", "cifar-10-binary.tar.gz"});
}

TEST(Cifar10, MissingDataErrorsSayWhereToPutTheFiles) {
  expect_error([] { load_dataset("cifar10", "train", ""); }, {"no default location", "cifar-10-binary.tar.gz"});
  expect_error([] { load_cifar10("train", "/nonexistent/signet_cifar"); }, {"/nonexistent/signet_cifar", "does not exist"});
  TempDir d;
  expect_error([&] { load_cifar10("test", d.path); }, {d.path, "test_batch.bin"});
  write(d.path + "/data_batch_1.bin", records(1, 0));
  write(d.path + "/data_batch_2.bin", records(1, 0));
  expect_error([&] { load_cifar10("train", d.path); }, {d.path + "/data_batch_3.bin", "missing"});
  expect_error([&] { load_cifar10("validation", d.path); }, {"validation"});
  expect_error([&] { load_dataset("cifar10:3", "train", d.path); }, {"takes no options"});
}

TEST(Cifar10, TruncatedEmptyAndCorruptFilesNameThePath) {
  TempDir d;
  const std::string p = d.path + "/test_batch.bin";
  std::vector<uint8_t> good = records(4, 0);
  Rng rng(3);
  // Any truncation that is not a whole number of records fails, naming the file and the size.
  for (int t = 0; t < 20; ++t) {
    size_t len = size_t(rng.below(good.size()));
    if (len % 3073 == 0) ++len;
    write(p, std::vector<uint8_t>(good.begin(), good.begin() + std::ptrdiff_t(len)));
    expect_error([&] { load_cifar10("test", d.path); }, {p, "3073", std::to_string(len) + " bytes"});
  }
  write(p, {});
  expect_error([&] { load_cifar10("test", d.path); }, {p, "0 bytes"});
  std::vector<uint8_t> extra = good;
  extra.push_back(0);  // one trailing byte
  write(p, extra);
  expect_error([&] { load_cifar10("test", d.path); }, {p});
  std::vector<uint8_t> bad = good;
  bad[2 * 3073] = 10;  // record 2's label
  write(p, bad);
  expect_error([&] { load_cifar10("test", d.path); }, {p, "record 2", "label 10"});
  // Random byte corruption of pixels still parses (every pixel byte is valid).
  std::vector<uint8_t> noisy = good;
  for (int k = 0; k < 100; ++k) {
    const size_t i = size_t(rng.below(noisy.size()));
    if (i % 3073 != 0) noisy[i] = uint8_t(rng.below(256));
  }
  write(p, noisy);
  EXPECT_EQ(load_cifar10("test", d.path).size(), 4);
}
