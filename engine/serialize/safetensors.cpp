#include "engine/serialize/safetensors.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>
#include <unordered_set>
#include <tuple>

#include <nlohmann/json.hpp>

#include "engine/serialize/atomic_file.h"
#include "engine/serialize/file_read.h"
#include "engine/serialize/untrusted_json.h"

// The data section is raw little-endian; on a little-endian host it is a plain memcpy.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors I/O assumes a little-endian host");

namespace signet {
namespace {

using json = nlohmann::json;

// A header this large is a corrupt length, not a model: refuse before allocating for it.
constexpr uint64_t kMaxHeaderBytes = 100ull * 1000 * 1000;
// More tensors than any model Signet reads (resnet50 has 320): a header listing more is refused
// before its entries are checked, so a small file cannot buy minutes of header checks.
constexpr size_t kMaxTensors = 65536;
constexpr size_t kMaxDims = 16;  // dimensions of one tensor

// What a stored dtype becomes in memory. Conversions read element by element via memcpy,
// because the data section need not be aligned (older writers did not pad the header).
struct DTypeInfo {
  const char* name;
  size_t size;  // bytes per element in the file
  DType to;
};
constexpr DTypeInfo kDTypes[] = {
    {"F32", 4, DType::F32},  {"F64", 8, DType::F32}, {"F16", 2, DType::F32},
    {"BF16", 2, DType::F32}, {"U8", 1, DType::F32},  {"I8", 1, DType::F32},
    {"BOOL", 1, DType::F32}, {"I64", 8, DType::I64}, {"I32", 4, DType::I64},
    {"I16", 2, DType::I64},  {"U16", 2, DType::I64}, {"U32", 4, DType::I64},
    {"U64", 8, DType::I64},
};

const DTypeInfo* find_dtype(const std::string& name) {
  for (const auto& d : kDTypes)
    if (name == d.name) return &d;
  return nullptr;
}

std::string supported_dtypes() {
  std::string s;
  for (const auto& d : kDTypes) s += (s.empty() ? "" : ", ") + std::string(d.name);
  return s;
}

template <class T> T load(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {  // zero or subnormal: mant * 2^-24 is exact in float32
    const float f = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -f : f;
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);  // inf, NaN (payload kept)
  } else {
    bits = sign | ((exp + 112) << 23) | (mant << 13);  // rebias 15 -> 127
  }
  return load<float>(reinterpret_cast<const char*>(&bits));
}

// bfloat16 is the top half of a float32.
float bf16_to_float(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  return load<float>(reinterpret_cast<const char*>(&bits));
}

float double_to_float(double d) {
  // An out-of-range double -> float cast is undefined behaviour; saturate to infinity instead.
  if (d > FLT_MAX) return std::numeric_limits<float>::infinity();
  if (d < -FLT_MAX) return -std::numeric_limits<float>::infinity();
  return static_cast<float>(d);
}

void convert(const DTypeInfo& dt, const char* src, int64_t n, const Tensor& out,
             const std::string& src_name, const std::string& tname) {
  const std::string k = dt.name;
  if (k == "F32" || k == "I64") {
    std::memcpy(out.storage()->data(), src, static_cast<size_t>(n) * dt.size);
    return;
  }
  if (dt.to == DType::F32) {
    float* o = out.f32();
    for (int64_t i = 0; i < n; ++i) {
      const char* p = src + i * dt.size;
      if (k == "F64") o[i] = double_to_float(load<double>(p));
      else if (k == "F16") o[i] = half_to_float(load<uint16_t>(p));
      else if (k == "BF16") o[i] = bf16_to_float(load<uint16_t>(p));
      else if (k == "U8") o[i] = static_cast<float>(load<uint8_t>(p));
      else if (k == "I8") o[i] = static_cast<float>(load<int8_t>(p));
      else o[i] = load<uint8_t>(p) != 0 ? 1.0f : 0.0f;  // BOOL
    }
    return;
  }
  int64_t* o = out.i64();
  for (int64_t i = 0; i < n; ++i) {
    const char* p = src + i * dt.size;
    if (k == "I32") o[i] = load<int32_t>(p);
    else if (k == "I16") o[i] = load<int16_t>(p);
    else if (k == "U16") o[i] = load<uint16_t>(p);
    else if (k == "U32") o[i] = load<uint32_t>(p);
    else {  // U64
      const uint64_t v = load<uint64_t>(p);
      SIGNET_CHECK(v <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()),
                   "{}: tensor '{}' (U64) holds {} at element {}, too large for int64", src_name,
                   tname, v, i);
      o[i] = static_cast<int64_t>(v);
    }
  }
}

// nlohmann's DOM parser plus the checks that must happen while parsing: a duplicate tensor name
// (nlohmann keeps the last of duplicate keys silently) and the tensor count (refused before the
// DOM grows). Its parser_callback could do both, but after every entry it rescans the parent
// object, which made a header of 40,000 tensors take minutes.
class HeaderSax : public nlohmann::detail::json_sax_dom_parser<json> {
 public:
  HeaderSax(json& root, const std::string& src) : json_sax_dom_parser(root, true), src_(src) {}
  std::string duplicate;  // the first name seen twice, if any

  bool start_object(std::size_t n) { return ++depth_, json_sax_dom_parser::start_object(n); }
  bool end_object() { return --depth_, json_sax_dom_parser::end_object(); }
  bool start_array(std::size_t n) { return ++depth_, json_sax_dom_parser::start_array(n); }
  bool end_array() { return --depth_, json_sax_dom_parser::end_array(); }
  bool key(string_t& k) {
    if (depth_ == 1) {
      if (!names_.insert(k).second && duplicate.empty()) duplicate = k;
      SIGNET_CHECK(names_.size() - names_.count("__metadata__") <= kMaxTensors,
                   "{}: header lists more than the limit of {} tensors", src_, kMaxTensors);
    }
    return json_sax_dom_parser::key(k);
  }

 private:
  const std::string& src_;
  size_t depth_ = 0;
  std::unordered_set<std::string> names_;
};

// Checks one tensor entry of the header and returns it; `bad` prefixes every message.
SafetensorsEntry parse_entry(const std::string& name, const json& v, const std::string& src) {
  const std::string bad = fmt::format("{}: tensor '{}': ", src, name);
  SIGNET_CHECK(v.is_object(), "{}header entry must be an object, got {}", bad, v.type_name());
  SafetensorsEntry e;
  e.name = name;

  const auto dt = v.find("dtype");
  SIGNET_CHECK(dt != v.end() && dt->is_string(), "{}missing or non-string \"dtype\"", bad);
  e.dtype = dt->get<std::string>();
  const DTypeInfo* info = find_dtype(e.dtype);
  SIGNET_CHECK(info != nullptr, "{}unsupported dtype '{}' (supported: {})", bad, e.dtype,
               supported_dtypes());

  const auto sh = v.find("shape");
  SIGNET_CHECK(sh != v.end() && sh->is_array(), "{}missing or non-array \"shape\"", bad);
  SIGNET_CHECK(sh->size() <= kMaxDims, "{}shape has {} dimensions, more than the limit of {}", bad, sh->size(),
               kMaxDims);
  uint64_t numel = 1, nonzero = 1;  // nonzero: product of non-zero dims, so strides fit int64
  bool overflow = false;
  for (const json& d : *sh) {
    SIGNET_CHECK(d.is_number_integer(), "{}shape entries must be integers, got {}", bad, json_excerpt(d));
    SIGNET_CHECK(d.is_number_unsigned(), "{}negative dimension {} in shape", bad, json_excerpt(d));
    const uint64_t u = d.get<uint64_t>();
    SIGNET_CHECK(u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()),
                 "{}dimension {} is too large", bad, u);
    e.shape.push_back(static_cast<int64_t>(u));
    numel *= u;  // wraps only if overflow, which `nonzero` detects (0 makes numel exact)
    if (u != 0) overflow |= __builtin_mul_overflow(nonzero, u, &nonzero);
  }
  uint64_t nbytes = 0;
  overflow |= nonzero > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
              __builtin_mul_overflow(nonzero, static_cast<uint64_t>(info->size), &nbytes);
  SIGNET_CHECK(!overflow, "{}shape {} is too large", bad, shape_str(e.shape));
  nbytes = numel * info->size;

  const auto off = v.find("data_offsets");
  SIGNET_CHECK(off != v.end() && off->is_array() && off->size() == 2 &&
                   (*off)[0].is_number_unsigned() && (*off)[1].is_number_unsigned(),
               "{}\"data_offsets\" must be [begin, end] with non-negative integers", bad);
  e.begin = (*off)[0].get<uint64_t>();
  e.end = (*off)[1].get<uint64_t>();
  SIGNET_CHECK(e.begin <= e.end, "{}data_offsets [{}, {}] end before they begin", bad, e.begin,
               e.end);
  SIGNET_CHECK(e.end - e.begin == nbytes,
               "{}data_offsets [{}, {}] hold {} bytes but {} x {} needs {}", bad, e.begin, e.end,
               e.end - e.begin, e.dtype, shape_str(e.shape), nbytes);
  return e;
}

}  // namespace

// ---------------------------------------------------------------- NamedTensors
const Tensor* NamedTensors::find(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return &t;
  return nullptr;
}

const Tensor& NamedTensors::at(const std::string& name) const {
  if (const Tensor* t = find(name)) return *t;
  std::string have;
  const size_t shown = std::min<size_t>(tensors.size(), 20);
  for (size_t i = 0; i < shown; ++i) have += (i ? ", " : "") + tensors[i].first;
  if (tensors.size() > shown) have += fmt::format(", ... ({} more)", tensors.size() - shown);
  throw Error(fmt::format("no tensor named '{}'; there are {}: {}", name, tensors.size(),
                          tensors.empty() ? "(none)" : have));
}

// ---------------------------------------------------------------- reading
SafetensorsHeader parse_safetensors_header(const std::string& bytes, const std::string& src) {
  SIGNET_CHECK(bytes.size() >= 8,
               "{}: not a safetensors file: {} bytes is shorter than the 8-byte header length",
               src, bytes.size());
  const uint64_t n = load<uint64_t>(bytes.data());
  SIGNET_CHECK(n <= kMaxHeaderBytes,
               "{}: header length {} exceeds the 100 MB limit: corrupt or not safetensors", src, n);
  SIGNET_CHECK(n <= bytes.size() - 8,
               "{}: header length {} runs past the end of the file ({} bytes): truncated or not "
               "safetensors", src, n, bytes.size());
  SafetensorsHeader h;
  h.data_start = 8 + n;
  const uint64_t data_size = bytes.size() - h.data_start;

  // Entries nest 3 deep; a deeper header is refused before nlohmann builds it.
  require_json_depth(std::string_view(bytes).substr(8, n), src + ": header");
  json j;
  HeaderSax sax(j, src);
  try {
    json::sax_parse(bytes.begin() + 8, bytes.begin() + static_cast<std::ptrdiff_t>(h.data_start), &sax);
  } catch (const json::exception& e) {
    // nlohmann quotes the offending token whole (a 5000-digit number, say): keep the message short.
    const std::string what = e.what();
    throw Error(fmt::format("{}: header is not valid JSON: {}", src,
                            what.size() > 300 ? what.substr(0, 300) + "..." : what));
  }
  const std::string& dup = sax.duplicate;
  SIGNET_CHECK(dup.empty(), "{}: header names '{}' twice", src, dup);
  SIGNET_CHECK(j.is_object(), "{}: header must be a JSON object, got {}", src, j.type_name());
  h.entries.reserve(j.size());

  for (const auto& [key, v] : j.items()) {
    if (key == "__metadata__") {
      SIGNET_CHECK(v.is_object(), "{}: \"__metadata__\" must be an object of strings", src);
      for (const auto& [mk, mv] : v.items()) {
        SIGNET_CHECK(mv.is_string(), "{}: metadata '{}' must be a string, got {}", src, mk,
                     mv.type_name());
        h.metadata[mk] = mv.get<std::string>();
      }
      continue;
    }
    h.entries.push_back(parse_entry(key, v, src));
  }

  // The data section must be tiled exactly: sorted by offset, each entry starts where the
  // previous one ended, and the last ends at the end of the file.
  std::sort(h.entries.begin(), h.entries.end(), [](const auto& a, const auto& b) {
    return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
  });
  uint64_t pos = 0;
  const SafetensorsEntry* prev = nullptr;
  for (const auto& e : h.entries) {
    SIGNET_CHECK(e.end <= data_size,
                 "{}: tensor '{}' data [{}, {}] runs past the end of the data section ({} bytes): "
                 "truncated file?", src, e.name, e.begin, e.end, data_size);
    SIGNET_CHECK(e.begin >= pos, "{}: tensors '{}' and '{}' overlap in the data section", src,
                 prev ? prev->name : "", e.name);
    SIGNET_CHECK(e.begin == pos, "{}: bytes [{}, {}) of the data section belong to no tensor",
                 src, pos, e.begin);
    pos = e.end;
    prev = &e;
  }
  SIGNET_CHECK(pos == data_size, "{}: {} bytes after the last tensor belong to no tensor", src,
               data_size - pos);
  return h;
}

NamedTensors decode_safetensors(const std::string& bytes, const std::string& src) {
  SafetensorsHeader h = parse_safetensors_header(bytes, src);
  NamedTensors nt;
  nt.metadata = std::move(h.metadata);
  nt.tensors.reserve(h.entries.size());
  for (const auto& e : h.entries) {
    const DTypeInfo& dt = *find_dtype(e.dtype);
    Tensor t = Tensor::empty(e.shape, dt.to);
    convert(dt, bytes.data() + h.data_start + e.begin, t.numel(), t, src, e.name);
    nt.tensors.emplace_back(e.name, std::move(t));
  }
  return nt;
}

NamedTensors load_safetensors(const std::string& path) {
  return decode_safetensors(read_file(path), path);
}

// ---------------------------------------------------------------- writing
std::string encode_safetensors(const NamedTensors& nt) {
  json header = json::object();
  std::vector<Tensor> packed;
  packed.reserve(nt.tensors.size());
  uint64_t off = 0;
  for (const auto& [name, t] : nt.tensors) {
    SIGNET_CHECK(!name.empty(), "cannot save a tensor with an empty name");
    SIGNET_CHECK(name != "__metadata__", "'__metadata__' is reserved and cannot name a tensor");
    SIGNET_CHECK(!header.contains(name), "cannot save two tensors named '{}'", name);
    SIGNET_CHECK(t.defined(), "cannot save tensor '{}': it is undefined", name);
    Tensor c = t.to(Device::cpu()).contiguous();
    const uint64_t nbytes = static_cast<uint64_t>(c.numel()) * dtype_size(c.dtype());
    json info = json::object();
    info["dtype"] = c.dtype() == DType::F32 ? "F32" : "I64";
    info["shape"] = json::array();
    for (int64_t d : c.shape()) info["shape"].push_back(d);
    info["data_offsets"] = json::array({off, off + nbytes});
    header[name] = std::move(info);
    off += nbytes;
    packed.push_back(std::move(c));
  }
  if (!nt.metadata.empty()) header["__metadata__"] = nt.metadata;

  std::string text;
  try {
    text = header.dump();  // compact, keys sorted: byte-stable for a given input
  } catch (const json::exception& e) {
    throw Error(fmt::format("cannot save: tensor names and metadata must be valid UTF-8 ({})",
                            e.what()));
  }
  // Pad with spaces so the data section starts 8-byte aligned, as the reference writer does.
  text.append((8 - text.size() % 8) % 8, ' ');

  std::string out;
  out.reserve(8 + text.size() + off);
  const uint64_t n = text.size();
  out.append(reinterpret_cast<const char*>(&n), 8);
  out += text;
  for (const Tensor& c : packed) {
    const size_t es = dtype_size(c.dtype());
    out.append(static_cast<const char*>(c.storage()->data()) + c.offset() * es,
               static_cast<size_t>(c.numel()) * es);
  }
  return out;
}

void save_safetensors(const std::string& path, const NamedTensors& nt) {
  write_file_atomic(path, encode_safetensors(nt));
}

}  // namespace signet
