// safetensors: round trips, a byte-exact golden file (pins the format), files laid out the
// way PyTorch's writer does, every validation error, and fuzzing (truncation, bit flips).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <unistd.h>

#include "engine/serialize/atomic_file.h"
#include "engine/serialize/file_read.h"
#include "engine/serialize/safetensors.h"

using namespace signet;

namespace {

std::string le64(uint64_t v) { return std::string(reinterpret_cast<const char*>(&v), 8); }
template <class T> std::string raw(std::initializer_list<T> vals) {
  std::string s;
  for (T v : vals) s.append(reinterpret_cast<const char*>(&v), sizeof v);
  return s;
}
// A file from a header (unpadded) and a data section.
std::string make_file(const std::string& header, const std::string& data = "") {
  return le64(header.size()) + header + data;
}

// Runs decode and returns the Error message ("" if it succeeded).
std::string decode_error(const std::string& bytes) {
  try {
    decode_safetensors(bytes, "model.st");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

NamedTensors sample() {
  NamedTensors nt;
  Tensor base = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  nt.tensors.emplace_back("features.0.weight", Tensor::from_vector({0.5f, -1, 2, 3.25f}, {2, 2}));
  nt.tensors.emplace_back("labels", Tensor::from_vector_i64({7, -8, 1LL << 40}, {3}));
  nt.tensors.emplace_back("step", Tensor::scalar(42.0f));
  nt.tensors.emplace_back("empty", Tensor::zeros({0, 3}));
  nt.tensors.emplace_back("fc1.weight", base.transpose_view(0, 1));  // non-contiguous [3, 2]
  nt.metadata = {{"format", "pt"}, {"signet", "0.1.0"}};
  return nt;
}

}  // namespace

TEST(Safetensors, RoundTripThroughFile) {
  char dir[] = "/tmp/signet_st_XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/m.safetensors";
  const NamedTensors in = sample();
  save_safetensors(path, in);
  const NamedTensors out = load_safetensors(path);

  ASSERT_EQ(out.tensors.size(), in.tensors.size());
  for (size_t i = 0; i < in.tensors.size(); ++i) {
    const auto& [name, t] = in.tensors[i];
    EXPECT_EQ(out.tensors[i].first, name) << "insertion order is kept in the data layout";
    const Tensor& r = out.at(name);
    EXPECT_EQ(r.shape(), t.shape()) << name;
    EXPECT_EQ(r.dtype(), t.dtype()) << name;
    if (t.dtype() == DType::F32) EXPECT_EQ(r.to_vector(), t.to_vector()) << name;
    else EXPECT_EQ(r.to_vector_i64(), t.to_vector_i64()) << name;
  }
  EXPECT_EQ(out.at("fc1.weight").to_vector(), (std::vector<float>{1, 4, 2, 5, 3, 6}));
  EXPECT_EQ(out.at("step").dim(), 0);
  EXPECT_EQ(out.metadata, in.metadata);
  // Our files are 8-byte aligned at the data section, like the reference writer's.
  const std::string bytes = read_file(path);
  EXPECT_EQ(parse_safetensors_header(bytes, path).data_start % 8, 0u);
  std::remove(path.c_str());
  rmdir(dir);
}

TEST(Safetensors, GoldenBytes) {
  NamedTensors nt;
  nt.tensors.emplace_back("b", Tensor::from_vector_i64({1, -2}, {2}));  // inserted first
  nt.tensors.emplace_back("a", Tensor::from_vector({1.0f, -2.5f}, {2}));
  nt.metadata["format"] = "pt";
  // Keys sorted in the header; data in insertion order (b, then a); 141 bytes + 3 spaces.
  const std::string header =
      R"({"__metadata__":{"format":"pt"},"a":{"data_offsets":[16,24],"dtype":"F32","shape":[2]},)"
      R"("b":{"data_offsets":[0,16],"dtype":"I64","shape":[2]}}   )";
  ASSERT_EQ(header.size(), 144u);
  const std::string expected =
      std::string("\x90\0\0\0\0\0\0\0", 8) + header +
      std::string("\x01\0\0\0\0\0\0\0\xfe\xff\xff\xff\xff\xff\xff\xff", 16) +
      std::string("\0\0\x80\x3f\0\0\x20\xc0", 8);
  EXPECT_EQ(encode_safetensors(nt), expected);
  // No metadata: no "__metadata__" key at all (as PyTorch writes without metadata).
  NamedTensors bare;
  bare.tensors.emplace_back("x", Tensor::scalar(1.0f));
  const std::string h2 = R"({"x":{"data_offsets":[0,4],"dtype":"F32","shape":[]}})";
  EXPECT_EQ(encode_safetensors(bare),
            le64(56) + h2 + std::string(56 - h2.size(), ' ') + raw<float>({1.0f}));
}

TEST(Safetensors, ReadsPyTorchLayout) {
  // As safetensors.torch.save_file writes it: metadata first, field order dtype/shape/offsets,
  // header padded with spaces, several dtypes PyTorch users save.
  const std::string data = raw<float>({0.1f, 0.2f}) +                          // fc1.bias
                           raw<uint16_t>({0x3F80, 0xC020, 0x4049, 0xFF80}) +   // fc1.weight BF16
                           raw<uint16_t>({0x3C00, 0xC000, 0x7BFF, 0x0001, 0x7C00, 0x3800}) +
                           raw<double>({1.5, -1e300}) + raw<int32_t>({-3, 9}) +
                           raw<uint8_t>({0, 255}) + raw<uint8_t>({1, 0});
  std::string header =
      R"({"__metadata__":{"format":"pt"},"fc1.bias":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("fc1.weight":{"dtype":"BF16","shape":[2,2],"data_offsets":[8,16]},)"
      R"("half":{"dtype":"F16","shape":[6],"data_offsets":[16,28]},)"
      R"("dbl":{"dtype":"F64","shape":[2],"data_offsets":[28,44]},)"
      R"("idx":{"dtype":"I32","shape":[2],"data_offsets":[44,52]},)"
      R"("img":{"dtype":"U8","shape":[1,2],"data_offsets":[52,54]},)"
      R"("mask":{"dtype":"BOOL","shape":[2],"data_offsets":[54,56]}})";
  header.append((8 - header.size() % 8) % 8, ' ');
  const NamedTensors nt = decode_safetensors(make_file(header, data), "torch.safetensors");

  EXPECT_EQ(nt.metadata.at("format"), "pt");
  EXPECT_EQ(nt.at("fc1.bias").to_vector(), (std::vector<float>{0.1f, 0.2f}));
  const Tensor& w = nt.at("fc1.weight");
  EXPECT_EQ(w.shape(), (Shape{2, 2}));
  EXPECT_EQ(w.dtype(), DType::F32);
  const auto wv = w.to_vector();
  EXPECT_EQ(wv[0], 1.0f);
  EXPECT_EQ(wv[1], -2.5f);
  EXPECT_EQ(wv[2], 3.140625f);
  EXPECT_TRUE(std::isinf(wv[3]) && wv[3] < 0);
  const auto hv = nt.at("half").to_vector();
  EXPECT_EQ(hv, (std::vector<float>{1.0f, -2.0f, 65504.0f, std::ldexp(1.0f, -24), INFINITY, 0.5f}));
  EXPECT_EQ(nt.at("dbl").to_vector(), (std::vector<float>{1.5f, -INFINITY}));
  EXPECT_EQ(nt.at("idx").dtype(), DType::I64);
  EXPECT_EQ(nt.at("idx").to_vector_i64(), (std::vector<int64_t>{-3, 9}));
  EXPECT_EQ(nt.at("img").to_vector(), (std::vector<float>{0, 255}));
  EXPECT_EQ(nt.at("mask").to_vector(), (std::vector<float>{1, 0}));
  // Unpadded headers (older writers) are read too: the data need not be aligned.
  const std::string odd = R"({"v":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  EXPECT_EQ(decode_safetensors(make_file(odd + " ", raw<float>({3.0f})), "x").at("v").item(), 3.0f);
}

TEST(Safetensors, FindAndAt) {
  const NamedTensors nt = sample();
  EXPECT_NE(nt.find("labels"), nullptr);
  EXPECT_EQ(nt.find("nope"), nullptr);
  try {
    nt.at("fc2.weight");
    FAIL() << "expected Error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("fc2.weight"), std::string::npos) << m;
    EXPECT_NE(m.find("features.0.weight"), std::string::npos) << m;
  }
}

TEST(Safetensors, RejectsBadInputsOnWrite) {
  NamedTensors dup;
  dup.tensors.emplace_back("w", Tensor::scalar(1));
  dup.tensors.emplace_back("w", Tensor::scalar(2));
  EXPECT_THROW(encode_safetensors(dup), Error);
  NamedTensors reserved;
  reserved.tensors.emplace_back("__metadata__", Tensor::scalar(1));
  EXPECT_THROW(encode_safetensors(reserved), Error);
  NamedTensors undefined;
  undefined.tensors.emplace_back("u", Tensor());
  EXPECT_THROW(encode_safetensors(undefined), Error);
  NamedTensors utf;
  utf.tensors.emplace_back(std::string("bad\xff"), Tensor::scalar(1));
  EXPECT_THROW(encode_safetensors(utf), Error);
}

TEST(Safetensors, ValidationErrorsNameTheSource) {
  const std::string ok = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  const std::string d8(8, '\0');
  ASSERT_EQ(decode_error(make_file(ok, d8)), "");
  struct Case {
    std::string bytes, expect;
  };
  const auto hdr = [](const std::string& entry) { return R"({"w":)" + entry + "}"; };
  const std::vector<Case> cases = {
      {"", "shorter than the 8-byte"},
      {std::string("\x05\0\0", 3), "shorter than the 8-byte"},
      {le64(200ull * 1000 * 1000) + "{}", "100 MB"},
      {le64(~0ull) + "{}", "100 MB"},
      {le64(50) + "{}", "runs past the end of the file"},
      {make_file("{\"w\":", d8), "not valid JSON"},
      {make_file("[1,2]"), "must be a JSON object"},
      {make_file(hdr("3"), d8), "must be an object"},
      {make_file(hdr(R"({"shape":[2],"data_offsets":[0,8]})"), d8), "\"dtype\""},
      {make_file(hdr(R"({"dtype":7,"shape":[2],"data_offsets":[0,8]})"), d8), "\"dtype\""},
      {make_file(hdr(R"({"dtype":"F8_E4M3","shape":[8],"data_offsets":[0,8]})"), d8), "F8_E4M3"},
      {make_file(hdr(R"({"dtype":"F32","data_offsets":[0,8]})"), d8), "\"shape\""},
      {make_file(hdr(R"({"dtype":"F32","shape":[-2],"data_offsets":[0,8]})"), d8), "negative"},
      {make_file(hdr(R"({"dtype":"F32","shape":[2.0],"data_offsets":[0,8]})"), d8), "integers"},
      {make_file(hdr(R"({"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,8]})"),
                 d8), "too large"},
      {make_file(hdr(R"({"dtype":"F32","shape":[2]})"), d8), "data_offsets"},
      {make_file(hdr(R"({"dtype":"F32","shape":[2],"data_offsets":[0]})"), d8), "data_offsets"},
      {make_file(hdr(R"({"dtype":"F32","shape":[2],"data_offsets":[-1,7]})"), d8), "data_offsets"},
      {make_file(hdr(R"({"dtype":"F32","shape":[2],"data_offsets":[8,0]})"), d8), "end before"},
      {make_file(hdr(R"({"dtype":"F32","shape":[3],"data_offsets":[0,8]})"), d8), "needs 12"},
      {make_file(hdr(R"({"dtype":"F32","shape":[2],"data_offsets":[0,8]})"), "abc"), "truncated"},
      {make_file(hdr(R"({"dtype":"F32","shape":[2],"data_offsets":[4,12]})"), d8 + d8),
       "belong to no tensor"},  // a hole at the start
      {make_file(ok, d8 + "x"), "after the last tensor"},
      {make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                 R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", d8), "overlap"},
      {make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                 R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", d8), "twice"},
      {make_file(R"({"__metadata__":{"k":1}})"), "metadata 'k'"},
      {make_file(R"({"__metadata__":[]})"), "__metadata__"},
      {make_file(R"({"u":{"dtype":"U64","shape":[1],"data_offsets":[0,8]}})", std::string(8, '\xff')),
       "too large for int64"},
  };
  for (const Case& c : cases) {
    const std::string m = decode_error(c.bytes);
    EXPECT_NE(m.find("model.st"), std::string::npos) << "no source name in: " << m;
    EXPECT_NE(m.find(c.expect), std::string::npos) << "expected '" << c.expect << "' in: " << m;
  }
}

TEST(Safetensors, TruncationAtEveryLengthIsAnError) {
  const std::string bytes = encode_safetensors(sample());
  for (size_t len = 0; len < bytes.size(); ++len)
    EXPECT_THROW(decode_safetensors(bytes.substr(0, len), "cut"), Error) << "length " << len;
  EXPECT_NO_THROW(decode_safetensors(bytes, "whole"));
}

TEST(Safetensors, RandomHeaderCorruptionNeverCrashes) {
  const std::string good = encode_safetensors(sample());
  const size_t data_start = parse_safetensors_header(good, "x").data_start;
  std::mt19937 rng(1234);
  int errors = 0, decoded = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    std::string bytes = good;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) {
      const size_t pos = rng() % data_start;  // the length field and the JSON header
      bytes[pos] = static_cast<char>(trial % 3 == 0 ? rng() : bytes[pos] ^ (1u << (rng() % 8)));
    }
    try {
      const NamedTensors nt = decode_safetensors(bytes, "flipped");
      for (const auto& [name, t] : nt.tensors) (void)t.numel();
      ++decoded;
    } catch (const Error&) {
      ++errors;
    }  // any other exception type fails the test
  }
  EXPECT_GT(errors, 0);
  EXPECT_EQ(errors + decoded, 3000);
}
