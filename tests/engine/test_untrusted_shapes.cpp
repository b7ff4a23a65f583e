// Shapes, sizes and JSON from outside: products of dims that overflow int64, shapes valid but
// absurd (the limits of engine/tensor.h), JSON nested past kMaxJsonDepth, and safetensors headers
// built to be slow (tens of thousands of entries). Each is an Error naming the culprit, never
// undefined behaviour, a crash or minutes of work.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "tests/scratch_dir.h"
#include "engine/ops/shape.h"
#include "engine/serialize/safetensors.h"
#include "engine/serialize/untrusted_json.h"
#include "models/model_io.h"

using namespace signet;

namespace {

using signet::testing::error_of;

std::string le64(uint64_t v) { return std::string(reinterpret_cast<const char*>(&v), 8); }
std::string make_file(const std::string& header, const std::string& data = "") {
  return le64(header.size()) + header + data;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

TEST(UntrustedShapes, ShapeNumelRefusesOverflowInsteadOfWrapping) {
  EXPECT_EQ(shape_numel({}), 1);
  EXPECT_EQ(shape_numel({3, 0, 5}), 0);
  EXPECT_EQ(shape_numel({int64_t{1} << 31, int64_t{1} << 31}), int64_t{1} << 62);
  // 512 x 134217728 x 268435456 = 2^64: wrapped to 0 before, which then sized a buffer.
  EXPECT_NE(error_of([] { shape_numel({512, 1, 134217728, 268435456}); }).find("more elements than fit"),
            std::string::npos);
  // A zero dim does not excuse the others: their product sizes the strides.
  EXPECT_THROW(shape_numel({0, int64_t{1} << 40, int64_t{1} << 40}), Error);
  EXPECT_THROW(shape_numel({2, -3}), Error);
}

TEST(UntrustedShapes, CheckedNumelAndMulNameWhatAndTheLimit) {
  EXPECT_EQ(checked_numel({1, 28, 28}, "--input-shape", kMaxSampleElements), 784);
  const std::string e = error_of([] { checked_numel({1, 5000, 5000}, "--input-shape", kMaxSampleElements); });
  EXPECT_NE(e.find("--input-shape"), std::string::npos) << e;
  EXPECT_NE(e.find(std::to_string(kMaxSampleElements)), std::string::npos) << e;
  EXPECT_NE(e.find("one input sample"), std::string::npos) << e;
  EXPECT_THROW(checked_numel({int64_t{1} << 62, 4}, "t"), Error);
  EXPECT_EQ(checked_mul(512, 784, "--batch-size"), 512 * 784);
  EXPECT_NE(error_of([] { checked_mul(INT64_MAX, 2, "--batch-size"); }).find("--batch-size"), std::string::npos);
  EXPECT_THROW(checked_mul(kMaxTensorElements, 2, "x"), Error);
}

TEST(UntrustedShapes, TensorEmptyRefusesMoreThanTheLimitBeforeAllocating) {
  const std::string e = error_of([] { Tensor::empty({kMaxTensorElements + 1}); });
  EXPECT_NE(e.find("limit for one tensor"), std::string::npos) << e;
  EXPECT_THROW(Tensor::empty({int64_t{1} << 40, int64_t{1} << 40}), Error);
  EXPECT_EQ(Tensor::empty({0, int64_t{1} << 40}).numel(), 0);
}

TEST(UntrustedShapes, SplitShapeTakesIntegersOnlyWithinTheSampleLimit) {
  EXPECT_EQ(split_shape("3,32,32", "--input-shape"), (Shape{3, 32, 32}));
  for (const char* bad : {"1,0,3", "1,-2,3", "1.5,2,2", "1e3", "1,,2", "99999999999999999999", "nan"})
    EXPECT_NE(error_of([&] { split_shape(bad, "--input-shape"); }).find("--input-shape"), std::string::npos) << bad;
  const std::string e = error_of([] { split_shape("1,3000,3000,3000", "m.st: signet.input_shape"); });
  EXPECT_NE(e.find("signet.input_shape"), std::string::npos) << e;
  EXPECT_NE(e.find("limit for one input sample"), std::string::npos) << e;
  EXPECT_EQ(parse_size("10", "signet.num_classes"), 10);
  EXPECT_THROW(parse_size("1e30", "signet.num_classes"), Error);
  EXPECT_THROW(parse_size("0", "signet.num_classes"), Error);
}

TEST(UntrustedShapes, JsonNestingDepthIgnoresBracketsInStrings) {
  EXPECT_EQ(json_nesting_depth(R"({"a":[1,[2]],"b":"[[[[\"{{{"})"), 3u);
  EXPECT_EQ(json_nesting_depth("1"), 0u);
  EXPECT_EQ(json_nesting_depth(std::string(100000, '[')), 100000u);
  EXPECT_NO_THROW(require_json_depth(std::string(kMaxJsonDepth, '['), "x"));
  const std::string e = error_of([] { require_json_depth(std::string(kMaxJsonDepth + 1, '['), "body"); });
  EXPECT_NE(e.find("body: JSON nested 65 levels deep"), std::string::npos) << e;
}

TEST(UntrustedShapes, JsonExcerptIsBounded) {
  EXPECT_EQ(json_excerpt(nlohmann::json::array({1, 2, 3})), "an array of 3 items");
  EXPECT_EQ(json_excerpt(nlohmann::json(std::string(1000, 'x'))), "\"" + std::string(59, 'x') + "...");
  EXPECT_EQ(json_excerpt(nlohmann::json(2.5)), "2.5");
}

TEST(UntrustedShapes, SafetensorsHeaderNestedDeepIsAnErrorNotAStackOverflow) {
  const size_t depth = 100000;
  const std::string hdr = R"({"a":{"dtype":"F32","shape":)" + std::string(depth, '[') + std::string(depth, ']') +
                          R"(,"data_offsets":[0,0]}})";
  const std::string e = error_of([&] { decode_safetensors(make_file(hdr), "deep.st"); });
  EXPECT_NE(e.find("deep.st: header: JSON nested 100002 levels deep"), std::string::npos) << e;
  // Within the limit but not a shape: the message describes the value instead of dumping it.
  const std::string wide = R"({"a":{"dtype":"F32","shape":[[")" + std::string(5000, 'x') + R"("]],"data_offsets":[0,0]}})";
  const std::string w = error_of([&] { decode_safetensors(make_file(wide), "wide.st"); });
  EXPECT_NE(w.find("got an array of 1 items"), std::string::npos) << w;
  EXPECT_LT(w.size(), 300u) << w;
  // nlohmann's own message quotes the bad token whole: a 5000-digit number is cut short.
  const std::string big = R"({"a":{"dtype":"F32","shape":[)" + std::string(5000, '1') + R"(],"data_offsets":[0,0]}})";
  const std::string b = error_of([&] { decode_safetensors(make_file(big), "big.st"); });
  EXPECT_NE(b.find("big.st: header is not valid JSON"), std::string::npos) << b.substr(0, 400);
  EXPECT_LT(b.size(), 400u);
}

TEST(UntrustedShapes, SafetensorsRefusesTooManyTensorsOrDimensions) {
  std::string hdr = "{";
  for (int i = 0; i <= 65536; ++i) hdr += (i ? "," : "") + ("\"t" + std::to_string(i)) + R"(":{"dtype":"F32","shape":[0],"data_offsets":[0,0]})";
  hdr += "}";
  const std::string e = error_of([&] { parse_safetensors_header(make_file(hdr), "many.st"); });
  EXPECT_NE(e.find("more than the limit of 65536 tensors"), std::string::npos) << e;
  const std::string dims = R"({"a":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],"data_offsets":[0,4]}})";
  const std::string d = error_of([&] { decode_safetensors(make_file(dims, std::string(4, '\0')), "r.st"); });
  EXPECT_NE(d.find("17 dimensions, more than the limit of 16"), std::string::npos) << d;
}

TEST(UntrustedShapes, SafetensorsWithTensThousandsOfTensorsLoadsInLinearishTime) {
  // 40,000 zero-size tensors (2.3 MB of header) took over a minute when each entry was checked
  // against all the others.
  std::string hdr = "{";
  for (int i = 0; i < 40000; ++i)
    hdr += (i ? "," : "") + ("\"t" + std::to_string(i)) + R"(":{"dtype":"F32","shape":[0],"data_offsets":[0,0]})";
  hdr += "}";
  const auto t0 = std::chrono::steady_clock::now();
  const NamedTensors nt = decode_safetensors(make_file(hdr), "many.st");
  EXPECT_EQ(nt.tensors.size(), 40000u);
  EXPECT_NE(nt.find("t39999"), nullptr);
  EXPECT_LT(seconds_since(t0), 10.0);
}

TEST(UntrustedShapes, ReshapeWithAnOverflowingKnownProductIsAnError) {
  const Tensor x = Tensor::zeros({4});
  EXPECT_THROW(reshape(x, {-1, int64_t{1} << 62, 4}), Error);  // 2^62 * 4 wrapped to 0 before
  EXPECT_THROW(reshape(x, {-1, -2}), Error);
  EXPECT_EQ(reshape(x, {-1, 2}).shape(), (Shape{2, 2}));
}
