// Pattern images someone else made: a PNG whose pixel data inflates far beyond its declared
// size (stb_image would allocate it all), sides above the limit, a FIFO, an oversize file.
// Each is an Error naming the file; a well-formed PNG still loads.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "tests/scratch_dir.h"
#include "engine/error.h"
#include "watermark/triggerset/patterns.h"

using namespace signet;

namespace {

using Bytes = std::vector<uint8_t>;

struct TempDir : signet::testing::ScratchDir {
  TempDir() : ScratchDir("signet_pattern_hostile_") {}
};

void put32(Bytes& b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(v >> s));
}

void chunk(Bytes& png, const char* type, const Bytes& data) {
  put32(png, static_cast<uint32_t>(data.size()));
  const size_t start = png.size();
  png.insert(png.end(), type, type + 4);
  png.insert(png.end(), data.begin(), data.end());
  put32(png, static_cast<uint32_t>(crc32(0, png.data() + start, static_cast<uInt>(png.size() - start))));
}

// A w x h 8-bit grey PNG whose IDAT holds `raw` (filter bytes + pixels), zlib-compressed.
Bytes grey_png(uint32_t w, uint32_t h, const Bytes& raw) {
  Bytes png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  Bytes ihdr;
  put32(ihdr, w);
  put32(ihdr, h);
  ihdr.insert(ihdr.end(), {8, 0, 0, 0, 0});
  chunk(png, "IHDR", ihdr);
  uLongf n = compressBound(static_cast<uLong>(raw.size()));
  Bytes z(n);
  EXPECT_EQ(compress2(z.data(), &n, raw.data(), static_cast<uLong>(raw.size()), 9), Z_OK);
  z.resize(n);
  chunk(png, "IDAT", z);
  chunk(png, "IEND", {});
  return png;
}

void write(const std::string& path, const Bytes& b) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(std::fwrite(b.data(), 1, b.size(), f), b.size());
  std::fclose(f);
}

std::string error_of(const std::string& path) {
  try {
    image_pattern(path, 1);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(PatternImageHostile, WellFormedPngLoads) {
  TempDir d;
  Bytes raw;
  for (int r = 0; r < 3; ++r) raw.insert(raw.end(), {0, 0, 128, 255, 64});  // filter 0 + 4 pixels
  write(d.file("ok.png"), grey_png(4, 3, raw));
  const StampPattern p = image_pattern(d.file("ok.png"), 1);
  EXPECT_EQ(p.width(), 4);
  EXPECT_EQ(p.height(), 3);
  EXPECT_FLOAT_EQ(p.value.f32()[2], 1.0f);
}

TEST(PatternImageHostile, PngInflatingFarBeyondItsSizeIsRefused) {
  TempDir d;
  // 16x16 pixels need 272 bytes; the IDAT inflates to 32 MiB from a ~32 KB file.
  const std::string p = d.file("bomb.png");
  write(p, grey_png(16, 16, Bytes(size_t(32) << 20, 0)));
  const std::string msg = error_of(p);
  EXPECT_NE(msg.find(p), std::string::npos) << msg;
  EXPECT_NE(msg.find("inflates to more than"), std::string::npos) << msg;
}

TEST(PatternImageHostile, SideAboveTheLimitFifoAndOversizeAreRefused) {
  TempDir d;
  const std::string wide = d.file("wide.png");
  write(wide, grey_png(2000, 1, Bytes(2001, 0)));
  std::string msg = error_of(wide);
  EXPECT_NE(msg.find("2000x1 pixels"), std::string::npos) << msg;

  const std::string fifo = d.file("logo.png");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  msg = error_of(fifo);
  EXPECT_NE(msg.find(fifo), std::string::npos) << msg;
  EXPECT_NE(msg.find("FIFO"), std::string::npos) << msg;

  const std::string big = d.file("big.pgm");
  write(big, Bytes(256 * 1024 + 1, 0));
  msg = error_of(big);
  EXPECT_NE(msg.find("more than the 256 KiB accepted for a pattern image"), std::string::npos) << msg;
}
