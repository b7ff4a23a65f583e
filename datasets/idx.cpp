// IDX reader: see idx.h for the contract.
#include "datasets/idx.h"

#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>

namespace signet {

namespace {

// Decompressed data larger than this is refused: no IDX file we read comes near it, and a
// corrupt or hostile gzip stream must not be able to exhaust memory.
constexpr size_t kMaxDecompressed = size_t(2) << 30;  // 2 GiB

constexpr int kTypeUByte = 0x08;

std::string magic_str(const uint8_t* p) {
  return fmt::format("0x{:02x}{:02x}{:02x}{:02x}", p[0], p[1], p[2], p[3]);
}

uint32_t be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

}  // namespace

std::vector<uint8_t> read_file_bytes(const std::string& path) {
  // A directory opens fine as a stream on Linux and then reads garbage sizes: refuse it first.
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
    throw Error(fmt::format("cannot read '{}': not a regular file", path));
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(fmt::format("cannot open '{}': {}", path, std::strerror(errno)));
  f.seekg(0, std::ios::end);
  const std::streamoff n = f.tellg();
  if (n < 0) throw Error(fmt::format("cannot read '{}': not a regular file?", path));
  f.seekg(0, std::ios::beg);
  std::vector<uint8_t> bytes(static_cast<size_t>(n));
  if (n > 0 && !f.read(reinterpret_cast<char*>(bytes.data()), n))
    throw Error(fmt::format("cannot read '{}': read failed after {} of {} bytes", path,
                            static_cast<long long>(f.gcount()), static_cast<long long>(n)));
  return bytes;
}

bool is_gzip(const std::vector<uint8_t>& bytes) {
  return bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b;
}

std::vector<uint8_t> gunzip(const std::vector<uint8_t>& in, const std::string& path) {
  const std::string fix = "the file is damaged; download it again";
  z_stream zs{};
  // 16 + MAX_WBITS: gzip wrapper only (header and CRC-32/length trailer are checked by zlib).
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
    throw Error(fmt::format("'{}': cannot initialise zlib", path));
  // RAII so that every throw below releases zlib's state.
  struct Guard {
    z_stream* z;
    ~Guard() { inflateEnd(z); }
  } guard{&zs};

  std::vector<uint8_t> out;
  out.reserve(std::min<size_t>(kMaxDecompressed, std::max<size_t>(in.size() * 4, 1 << 16)));
  size_t in_pos = 0;
  constexpr size_t kChunk = 1 << 18;
  for (;;) {
    // Feed input in pieces that fit zlib's 32-bit counters.
    if (zs.avail_in == 0 && in_pos < in.size()) {
      const size_t n = std::min<size_t>(in.size() - in_pos, std::numeric_limits<uInt>::max());
      zs.next_in = const_cast<Bytef*>(in.data() + in_pos);
      zs.avail_in = static_cast<uInt>(n);
      in_pos += n;
    }
    const size_t old = out.size();
    if (old + kChunk > kMaxDecompressed)
      throw Error(fmt::format("'{}': gzip data decompresses to more than {} bytes; not an IDX "
                              "file of a supported size",
                              path, kMaxDecompressed));
    out.resize(old + kChunk);
    zs.next_out = out.data() + old;
    zs.avail_out = static_cast<uInt>(kChunk);
    const int rc = inflate(&zs, Z_NO_FLUSH);
    out.resize(old + (kChunk - zs.avail_out));
    if (rc == Z_STREAM_END) {
      const size_t consumed = in_pos - zs.avail_in;
      if (consumed == in.size()) break;
      // Another gzip member may follow (as `cat a.gz b.gz` makes); anything else is garbage.
      const size_t rest = in.size() - consumed;
      if (rest >= 2 && in[consumed] == 0x1f && in[consumed + 1] == 0x8b) {
        inflateReset(&zs);
        continue;
      }
      throw Error(fmt::format("'{}': {} unexpected trailing bytes after the gzip data; {}", path,
                              rest, fix));
    }
    if (rc == Z_OK) continue;
    // Z_BUF_ERROR means no progress; there is always fresh output space, so input ran out.
    if (rc == Z_BUF_ERROR && zs.avail_in == 0 && in_pos < in.size()) continue;
    if (rc == Z_BUF_ERROR)
      throw Error(fmt::format("'{}': gzip data is truncated (ends after {} compressed bytes); {}",
                              path, in.size(), fix));
    throw Error(fmt::format("'{}': corrupt gzip data ({}); {}", path,
                            zs.msg ? zs.msg : zError(rc), fix));
  }
  return out;
}

IdxArray parse_idx(const std::vector<uint8_t>& bytes_in, const std::string& path) {
  std::vector<uint8_t> decompressed;
  const bool gz = is_gzip(bytes_in);
  if (gz) decompressed = gunzip(bytes_in, path);
  const std::vector<uint8_t>& b = gz ? decompressed : bytes_in;
  const std::string fix = "the file is damaged or not an IDX file; download it again";

  if (b.size() < 4)
    throw Error(fmt::format("'{}': too short for an IDX file ({} bytes, the header alone needs "
                            "at least 8); {}",
                            path, b.size(), fix));
  if (b[0] != 0 || b[1] != 0)
    throw Error(fmt::format("'{}': bad IDX magic {} (expected 0x000008NN); {}", path,
                            magic_str(b.data()), fix));
  if (b[2] != kTypeUByte)
    throw Error(fmt::format("'{}': IDX element type 0x{:02x} is not supported (only 0x08, "
                            "unsigned byte, as in MNIST); {}",
                            path, b[2], fix));
  const int ndim = b[3];
  if (ndim < 1 || ndim > 4)
    throw Error(fmt::format("'{}': IDX file declares {} dimensions (expected 1 to 4); {}", path,
                            ndim, fix));
  const size_t header = 4 + 4 * size_t(ndim);
  if (b.size() < header)
    throw Error(fmt::format("'{}': truncated IDX header ({} bytes, {} needed for {} dims); {}",
                            path, b.size(), header, ndim, fix));

  IdxArray arr;
  uint64_t count = 1;
  for (int d = 0; d < ndim; ++d) {
    const uint32_t n = be32(b.data() + 4 + 4 * d);
    // A zero dim is legal IDX but never a usable data set; in practice it means corruption.
    if (n == 0)
      throw Error(fmt::format("'{}': IDX dimension {} is zero; {}", path, d, fix));
    // Overflow guard: the payload must fit in the bytes we have, so bound before multiplying.
    if (count > std::numeric_limits<uint64_t>::max() / n)
      throw Error(fmt::format("'{}': IDX dimensions overflow; {}", path, fix));
    count *= n;
    arr.dims.push_back(n);
  }
  const uint64_t payload = b.size() - header;
  if (payload != count) {
    std::string dims;
    for (int64_t d : arr.dims) dims += (dims.empty() ? "" : " x ") + std::to_string(d);
    throw Error(fmt::format("'{}': IDX payload is {} bytes but the header ({}) needs {}: the "
                            "file is {}; {}",
                            path, payload, dims, count,
                            payload < count ? "truncated" : "followed by trailing bytes", fix));
  }
  arr.data.assign(b.begin() + static_cast<std::ptrdiff_t>(header), b.end());
  return arr;
}

IdxArray read_idx(const std::string& path) { return parse_idx(read_file_bytes(path), path); }

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
