#include "watermark/triggerset/patterns.h"

#include <fmt/format.h>
#include <stb_image.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>

#include "engine/error.h"
#include "engine/serialize/file_read.h"

namespace signet {

namespace {
// Pattern images are logos stamped into training images (28x28, 32x32), so anything larger is a
// mistake or hostile; the bound keeps stb_image's allocation small.
constexpr int kMaxPatternSide = 1024;

uint32_t be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

// stb_image inflates a PNG's pixel data (IDAT) into a buffer that grows without bound before it
// checks the size, so a small PNG can make it allocate hundreds of MB. This inflates the IDAT
// stream first, into a scratch buffer, and refuses a PNG whose data exceeds twice what its
// declared size needs (rows of filter byte + pixels; twice covers Adam7 interlacing). Anything
// that is not a well-formed PNG is left to stb_image to report.
void check_png_inflation(const std::vector<uint8_t>& f, const std::string& path) {
  static const uint8_t kSig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (f.size() < 8 + 25 || std::memcmp(f.data(), kSig, 8) != 0 || std::memcmp(f.data() + 12, "IHDR", 4) != 0) return;
  const uint64_t w = be32(f.data() + 16), h = be32(f.data() + 20);
  const int depth = f[24], colour = f[25];
  const int channels = colour == 2 ? 3 : colour == 4 ? 2 : colour == 6 ? 4 : 1;
  if (w == 0 || h == 0 || w > kMaxPatternSide || h > kMaxPatternSide) return;  // stbi_info's checks report it
  const uint64_t bound = 2 * h * (1 + (w * channels * depth + 7) / 8) + 64;

  z_stream zs{};
  if (inflateInit(&zs) != Z_OK) return;
  std::vector<uint8_t> scratch(1 << 16);
  uint64_t out = 0;
  int rc = Z_OK;
  for (size_t pos = 8; pos + 12 <= f.size() && rc == Z_OK;) {
    const uint64_t len = be32(f.data() + pos);
    if (len > f.size() - pos - 12) break;
    if (std::memcmp(f.data() + pos + 4, "IDAT", 4) == 0) {
      zs.next_in = const_cast<Bytef*>(f.data() + pos + 8);
      zs.avail_in = static_cast<uInt>(len);
      for (;;) {
        zs.next_out = scratch.data();
        zs.avail_out = static_cast<uInt>(scratch.size());
        rc = inflate(&zs, Z_NO_FLUSH);
        out += scratch.size() - zs.avail_out;
        if (rc == Z_BUF_ERROR) rc = Z_OK;  // this chunk is used up: the stream goes on in the next
        if (rc != Z_OK || out > bound || (zs.avail_in == 0 && zs.avail_out != 0)) break;
      }
      if (out > bound) break;
    }
    pos += 12 + len;
  }
  inflateEnd(&zs);
  SIGNET_CHECK(out <= bound,
               "the pattern image {} is a {}x{} PNG whose pixel data inflates to more than the {} bytes that size "
               "needs; the file is damaged or crafted to exhaust memory",
               path, w, h, bound);
}

// 3 columns x 5 rows per letter, '#' = dot. Only what the default pattern needs.
const std::map<char, const char*>& font() {
  static const std::map<char, const char*> f = {
      {'T', "###"
            ".#."
            ".#."
            ".#."
            ".#."},
      {'E', "###"
            "#.."
            "##."
            "#.."
            "###"},
      {'S', "###"
            "#.."
            "###"
            "..#"
            "###"},
  };
  return f;
}
}  // namespace

StampPattern text_pattern(const std::string& text, int64_t scale, float value) {
  SIGNET_CHECK(!text.empty(), "the pattern text is empty");
  SIGNET_CHECK(scale >= 1, "the pattern scale must be >= 1, got {}", scale);
  const int64_t n = static_cast<int64_t>(text.size());
  const int64_t h = 5 * scale, w = (4 * n - 1) * scale;
  StampPattern p{Tensor::full({h, w}, value), Tensor::zeros({h, w})};
  for (int64_t i = 0; i < n; ++i) {
    auto g = font().find(text[i]);
    SIGNET_CHECK(g != font().end(), "the built-in font has no letter '{}' (it has T, E, S)", text[i]);
    for (int64_t r = 0; r < 5; ++r)
      for (int64_t c = 0; c < 3; ++c) {
        if (g->second[r * 3 + c] != '#') continue;
        for (int64_t dy = 0; dy < scale; ++dy)
          for (int64_t dx = 0; dx < scale; ++dx) p.alpha.f32()[(r * scale + dy) * w + (4 * i + c) * scale + dx] = 1;
      }
  }
  return p;
}

StampPattern image_pattern(const std::string& path, int64_t scale) {
  SIGNET_CHECK(scale >= 1, "the pattern scale must be >= 1, got {}", scale);
  const std::vector<uint8_t> file = read_file_bytes(path, file_kind::kImage);
  const auto* data = reinterpret_cast<const stbi_uc*>(file.data());
  const int len = static_cast<int>(file.size());  // kImage bounds it far below INT_MAX
  int w = 0, h = 0, n = 0;
  // The size the header declares, checked before stb_image allocates for it.
  SIGNET_CHECK(stbi_info_from_memory(data, len, &w, &h, &n) != 0,
               "cannot read the pattern image {}: {} (give a PNG or PGM file)", path,
               stbi_failure_reason() ? stbi_failure_reason() : "unknown error");
  SIGNET_CHECK(w <= kMaxPatternSide && h <= kMaxPatternSide,
               "the pattern image {} is {}x{} pixels; a pattern must fit in the images it marks, and at most "
               "{}x{} is accepted: scale the image down",
               path, w, h, kMaxPatternSide, kMaxPatternSide);
  check_png_inflation(file, path);
  std::unique_ptr<stbi_uc, void (*)(void*)> px(stbi_load_from_memory(data, len, &w, &h, &n, 2), stbi_image_free);
  SIGNET_CHECK(px != nullptr, "cannot read the pattern image {}: {} (give a PNG or PGM file)", path,
               stbi_failure_reason() ? stbi_failure_reason() : "unknown error");
  const int64_t H = static_cast<int64_t>(h) * scale, W = static_cast<int64_t>(w) * scale;
  StampPattern p{Tensor::empty({H, W}), Tensor::empty({H, W})};
  for (int64_t r = 0; r < H; ++r)
    for (int64_t c = 0; c < W; ++c) {
      const stbi_uc* s = px.get() + 2 * ((r / scale) * w + c / scale);
      p.value.f32()[r * W + c] = static_cast<float>(s[0]) / 255.0f;
      p.alpha.f32()[r * W + c] = static_cast<float>(s[1]) / 255.0f;
    }
  return p;
}

Tensor stamp(const Tensor& images, const StampPattern& p, int64_t x, int64_t y) {
  SIGNET_CHECK(images.dim() == 4 && images.dtype() == DType::F32, "stamp: images must be float32 [N, C, H, W]");
  const int64_t N = images.size(0), C = images.size(1), H = images.size(2), W = images.size(3);
  SIGNET_CHECK(x >= 0 && y >= 0 && x + p.width() <= W && y + p.height() <= H,
               "the pattern ({}x{} pixels) at x={}, y={} does not fit in {}x{} images: move it (--pattern-x, "
               "--pattern-y) or shrink it (--pattern-scale)",
               p.width(), p.height(), x, y, W, H);
  Tensor out = images.contiguous().clone();
  float* o = out.f32();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t r = 0; r < p.height(); ++r)
        for (int64_t q = 0; q < p.width(); ++q) {
          const float a = p.alpha.f32()[r * p.width() + q], v = p.value.f32()[r * p.width() + q];
          float& d = o[((n * C + c) * H + y + r) * W + x + q];
          d = a * v + (1 - a) * d;
        }
  return out;
}

Tensor fit_images(const Tensor& images, const Shape& chw) {
  SIGNET_CHECK(images.dim() == 4 && images.dtype() == DType::F32 && chw.size() == 3,
               "fit_images: images must be float32 [N, C, H, W] and the target shape [C, H, W]");
  const Tensor src = images.contiguous();
  const int64_t N = src.size(0), C0 = src.size(1), H0 = src.size(2), W0 = src.size(3);
  const int64_t C = chw[0], H = chw[1], W = chw[2];
  SIGNET_CHECK(C0 == 1 || C0 == C || C == 1, "cannot fit {}-channel images to {} channels", C0, C);
  Tensor out = Tensor::empty({N, C, H, W});
  const float* s = src.f32();
  float* o = out.f32();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t r = 0; r < H; ++r)
      for (int64_t q = 0; q < W; ++q) {
        const int64_t r0 = r * H0 / H, q0 = q * W0 / W;
        auto at = [&](int64_t c) { return s[((n * C0 + c) * H0 + r0) * W0 + q0]; };
        float grey = 0;
        for (int64_t c = 0; c < C0; ++c) grey += at(c);
        grey /= static_cast<float>(C0);
        for (int64_t c = 0; c < C; ++c) o[((n * C + c) * H + r) * W + q] = C0 == C ? at(c) : grey;
      }
  return out;
}

std::vector<int64_t> pick_of_class(const Tensor& labels, int64_t cls, int64_t K, Rng& rng, const std::string& what) {
  std::vector<int64_t> idx;
  const auto y = labels.to_vector_i64();
  for (size_t i = 0; i < y.size(); ++i)
    if (cls < 0 || y[i] == cls) idx.push_back(static_cast<int64_t>(i));
  SIGNET_CHECK(static_cast<int64_t>(idx.size()) >= K, "{} has {} images{}, fewer than --keys {}", what, idx.size(),
               cls < 0 ? "" : fmt::format(" of class {}", cls), K);
  rng.shuffle(idx);
  idx.resize(K);
  return idx;
}

}  // namespace signet
