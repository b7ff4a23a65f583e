// IDX reader: see idx.h for the contract.
#include "datasets/idx.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include "engine/serialize/file_read.h"

namespace signet {

namespace {

// An IDX file (decompressed) larger than this is refused: the largest one we read, the
// MNIST training images, is 47 MB, and a hostile header must not be able to exhaust memory.
constexpr size_t kMaxDecompressed = size_t(2) << 30;  // 2 GiB

constexpr int kTypeUByte = 0x08;

std::string magic_str(const uint8_t* p) {
  return fmt::format("0x{:02x}{:02x}{:02x}{:02x}", p[0], p[1], p[2], p[3]);
}

uint32_t be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

}  // namespace

bool is_gzip(const std::vector<uint8_t>& bytes) {
  return bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b;
}

namespace {

const char* kFixIdx = "the file is damaged or not an IDX file; download it again";
const char* kFixGzip = "the file is damaged; download it again";

// What an IDX header declares.
struct IdxHeader {
  std::vector<int64_t> dims;
  size_t header_bytes = 0;  // magic + dims
  size_t total_bytes = 0;   // header + payload: exactly the size of a valid file
};

std::string dims_text(const std::vector<int64_t>& dims) {
  std::string s;
  for (int64_t d : dims) s += (s.empty() ? "" : " x ") + std::to_string(d);
  return s;
}

// Checks the magic (b[0..3], of which `n` are present) and returns the header size it implies.
size_t idx_header_bytes(const uint8_t* b, size_t n, const std::string& path) {
  if (n < 4)
    throw Error(fmt::format("'{}': too short for an IDX file ({} bytes, the header alone needs "
                            "at least 8); {}",
                            path, n, kFixIdx));
  if (b[0] != 0 || b[1] != 0)
    throw Error(fmt::format("'{}': bad IDX magic {} (expected 0x000008NN); {}", path, magic_str(b),
                            kFixIdx));
  if (b[2] != kTypeUByte)
    throw Error(fmt::format("'{}': IDX element type 0x{:02x} is not supported (only 0x08, "
                            "unsigned byte, as in MNIST); {}",
                            path, b[2], kFixIdx));
  const int ndim = b[3];
  if (ndim < 1 || ndim > 4)
    throw Error(fmt::format("'{}': IDX file declares {} dimensions (expected 1 to 4); {}", path,
                            ndim, kFixIdx));
  return 4 + 4 * size_t(ndim);
}

// Parses the header from the first `n` bytes of `b`: the dims and the exact file size they
// declare, which is checked against kMaxDecompressed without overflowing.
IdxHeader parse_idx_header(const uint8_t* b, size_t n, const std::string& path) {
  IdxHeader h;
  h.header_bytes = idx_header_bytes(b, n, path);
  const int ndim = b[3];
  if (n < h.header_bytes)
    throw Error(fmt::format("'{}': truncated IDX header ({} bytes, {} needed for {} dims); {}",
                            path, n, h.header_bytes, ndim, kFixIdx));
  uint64_t count = 1;
  for (int d = 0; d < ndim; ++d) {
    const uint32_t dim = be32(b + 4 + 4 * d);
    // A zero dim is legal IDX but never a usable data set; in practice it means corruption.
    if (dim == 0)
      throw Error(fmt::format("'{}': IDX dimension {} is zero; {}", path, d, kFixIdx));
    h.dims.push_back(dim);
    // count <= kMaxDecompressed < 2^32 and dim < 2^32, so the product fits in 64 bits.
    count *= dim;
    if (count > kMaxDecompressed - h.header_bytes)
      throw Error(fmt::format("'{}': the IDX header declares {}{} elements ({}), more than the {} "
                              "bytes Signet reads from one IDX file; {}",
                              path, d + 1 == ndim ? "" : "at least ", count, dims_text(h.dims),
                              kMaxDecompressed, kFixIdx));
  }
  h.total_bytes = h.header_bytes + static_cast<size_t>(count);
  return h;
}

// Decompressed bytes of a gzip stream (one or more concatenated members, as `cat a.gz b.gz`
// makes), pulled on demand so that the caller decides how much to allocate.
class GzipReader {
 public:
  GzipReader(const std::vector<uint8_t>& in, const std::string& path) : in_(in), path_(path) {
    // 16 + MAX_WBITS: gzip wrapper only (header and CRC-32/length trailer are checked by zlib).
    if (inflateInit2(&zs_, 16 + MAX_WBITS) != Z_OK)
      throw Error(fmt::format("'{}': cannot initialise zlib", path));
  }
  ~GzipReader() { inflateEnd(&zs_); }
  GzipReader(const GzipReader&) = delete;
  GzipReader& operator=(const GzipReader&) = delete;

  // Fills dst[0..n) and returns n, or fewer where the stream ends. Error on corrupt data.
  size_t read(uint8_t* dst, size_t n) {
    size_t got = 0;
    while (got < n && !ended_) {
      // Feed input and ask for output in pieces that fit zlib's 32-bit counters.
      if (zs_.avail_in == 0 && in_pos_ < in_.size()) {
        const size_t k = std::min<size_t>(in_.size() - in_pos_, std::numeric_limits<uInt>::max());
        zs_.next_in = const_cast<Bytef*>(in_.data() + in_pos_);
        zs_.avail_in = static_cast<uInt>(k);
        in_pos_ += k;
      }
      const size_t want = std::min<size_t>(n - got, std::numeric_limits<uInt>::max());
      zs_.next_out = dst + got;
      zs_.avail_out = static_cast<uInt>(want);
      const int rc = inflate(&zs_, Z_NO_FLUSH);
      got += want - zs_.avail_out;
      if (rc == Z_STREAM_END) {
        const size_t consumed = in_pos_ - zs_.avail_in;
        if (consumed == in_.size()) {
          ended_ = true;
          break;
        }
        const size_t rest = in_.size() - consumed;
        if (rest >= 2 && in_[consumed] == 0x1f && in_[consumed + 1] == 0x8b) {
          inflateReset(&zs_);
          continue;
        }
        throw Error(fmt::format("'{}': {} unexpected trailing bytes after the gzip data; {}",
                                path_, rest, kFixGzip));
      }
      if (rc == Z_OK) continue;
      // Z_BUF_ERROR means no progress; there is always output space, so input ran out.
      if (rc == Z_BUF_ERROR && zs_.avail_in == 0 && in_pos_ < in_.size()) continue;
      if (rc == Z_BUF_ERROR)
        throw Error(fmt::format("'{}': gzip data is truncated (ends after {} compressed bytes); {}",
                                path_, in_.size(), kFixGzip));
      throw Error(fmt::format("'{}': corrupt gzip data ({}); {}", path_,
                              zs_.msg ? zs_.msg : zError(rc), kFixGzip));
    }
    return got;
  }

 private:
  const std::vector<uint8_t>& in_;
  const std::string& path_;
  z_stream zs_{};
  size_t in_pos_ = 0;
  bool ended_ = false;
};

// Decompresses a gzip IDX file, allocating no more than its header declares: the magic and
// dims come first, then exactly the declared payload; a stream that would inflate further
// (a gzip bomb, or trailing data) or ends short is refused.
std::vector<uint8_t> gunzip_idx(const std::vector<uint8_t>& in, const std::string& path) {
  GzipReader z(in, path);
  uint8_t head[4 + 4 * 4];
  size_t got = z.read(head, 4);
  const size_t header_bytes = idx_header_bytes(head, got, path);
  got += z.read(head + 4, header_bytes - 4);
  const IdxHeader h = parse_idx_header(head, got, path);
  // Reserved once, but filled (so made resident) only as data arrives: a tiny file that
  // declares a large payload and then ends short costs one piece, not the declared size.
  std::vector<uint8_t> out(head, head + h.header_bytes);
  out.reserve(h.total_bytes);
  constexpr size_t kPiece = size_t(16) << 20;
  const size_t payload = h.total_bytes - h.header_bytes;
  size_t have = 0;
  while (have < payload) {
    const size_t want = std::min(kPiece, payload - have);
    out.resize(h.header_bytes + have + want);
    const size_t got_now = z.read(out.data() + h.header_bytes + have, want);
    have += got_now;
    if (got_now < want) break;
  }
  if (have < payload)
    throw Error(fmt::format("'{}': IDX payload is {} bytes but the header ({}) needs {}: the "
                            "file is truncated; {}",
                            path, have, dims_text(h.dims), payload, kFixIdx));
  uint8_t extra = 0;
  if (z.read(&extra, 1) != 0)
    throw Error(fmt::format("'{}': the gzip data decompresses to more than the {} bytes its IDX "
                            "header ({}) declares; the file is damaged or was crafted to exhaust "
                            "memory (a gzip bomb)",
                            path, h.total_bytes, dims_text(h.dims)));
  return out;
}

}  // namespace

IdxArray parse_idx(const std::vector<uint8_t>& bytes_in, const std::string& path) {
  std::vector<uint8_t> decompressed;
  const bool gz = is_gzip(bytes_in);
  if (gz) decompressed = gunzip_idx(bytes_in, path);
  const std::vector<uint8_t>& b = gz ? decompressed : bytes_in;

  const IdxHeader h = parse_idx_header(b.data(), b.size(), path);
  if (b.size() != h.total_bytes) {
    const size_t payload = b.size() - h.header_bytes, count = h.total_bytes - h.header_bytes;
    throw Error(fmt::format("'{}': IDX payload is {} bytes but the header ({}) needs {}: the "
                            "file is {}; {}",
                            path, payload, dims_text(h.dims), count,
                            payload < count ? "truncated" : "followed by trailing bytes", kFixIdx));
  }
  IdxArray arr;
  arr.dims = h.dims;
  arr.data.assign(b.begin() + static_cast<std::ptrdiff_t>(h.header_bytes), b.end());
  return arr;
}

IdxArray read_idx(const std::string& path) {
  return parse_idx(read_file_bytes(path, file_kind::kDataset), path);
}

Tensor read_idx_images(const std::string& path) {
  IdxArray a = read_idx(path);
  if (a.dims.size() != 3)
    throw Error(fmt::format("'{}': expected an IDX image file (magic 0x00000803, 3 dims N x H x "
                            "W) but it has {} dims; is this a label file?",
                            path, a.dims.size()));
  const int64_t n = a.dims[0], h = a.dims[1], w = a.dims[2];
  checked_numel({1, h, w}, fmt::format("'{}': IDX image", path), kMaxSampleElements);
  Tensor t = Tensor::empty({n, 1, h, w}, DType::F32);
  float* dst = t.f32();
  // A 256-entry table: the division happens once per value, not once per pixel.
  float lut[256];
  for (int i = 0; i < 256; ++i) lut[i] = static_cast<float>(i) / 255.0f;
  const size_t total = a.data.size();
  for (size_t i = 0; i < total; ++i) dst[i] = lut[a.data[i]];
  return t;
}

Tensor read_idx_labels(const std::string& path) {
  IdxArray a = read_idx(path);
  if (a.dims.size() != 1)
    throw Error(fmt::format("'{}': expected an IDX label file (magic 0x00000801, 1 dim) but it "
                            "has {} dims; is this an image file?",
                            path, a.dims.size()));
  const int64_t n = a.dims[0];
  Tensor t = Tensor::empty({n}, DType::I64);
  int64_t* dst = t.i64();
  for (int64_t i = 0; i < n; ++i) dst[i] = a.data[static_cast<size_t>(i)];
  return t;
}

}  // namespace signet
