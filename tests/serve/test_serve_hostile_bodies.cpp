// Request and answer bodies built to hurt the server or the client: JSON nested 100,000 deep
// (dump(), copies and comparisons of it recurse) and small requests that claim a large batch.
#include <gtest/gtest.h>

#include <string>

#include "serve/predict_codec.h"

namespace signet {
namespace {

template <class F>
std::pair<int, std::string> request_error(F f) {
  try {
    f();
  } catch (const serve::RequestError& e) {
    return {e.status, e.what()};
  }
  return {0, ""};
}

std::string nested(size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

TEST(ServeHostileBodies, DeeplyNestedRequestIsA400) {
  const auto e = request_error(
      [] { serve::decode_json_request("{\"inputs\": [" + nested(100000) + "]}", {1, 2, 2}, 8); });
  EXPECT_EQ(e.first, 400);
  EXPECT_NE(e.second.find("more than 64 deep"), std::string::npos) << e.second;
  // Nesting the model's own shape needs is far below the limit.
  EXPECT_EQ(serve::decode_json_request(R"({"inputs": [[[[1, 2], [3, 4]]]]})", {1, 2, 2}, 8).inputs.numel(), 4);
}

TEST(ServeHostileBodies, DeeplyNestedAnswerIsAnErrorNamingTheServer) {
  try {
    serve::decode_json_answer("{\"labels\": " + nested(100000) + "}", 1, false, "http://peer");
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("http://peer answered: JSON nested"), std::string::npos) << e.what();
  }
}

TEST(ServeHostileBodies, ShortBodyClaimingABigBatchFailsWithoutAllocatingIt) {
  // 4096 inputs of 1x2048x2048 would be 64 GiB; the body holds 4096 bare numbers. Values are
  // gathered as they are read, so the first non-array input fails the request instead.
  std::string body = "{\"inputs\": [";
  for (int i = 0; i < 4096; ++i) body += i ? ",0" : "0";
  const auto e = request_error([&] { serve::decode_json_request(body + "]}", {1, 2048, 2048}, 4096); });
  EXPECT_EQ(e.first, 400);
  EXPECT_NE(e.second.find("input 0"), std::string::npos) << e.second;
}

}  // namespace
}  // namespace signet
