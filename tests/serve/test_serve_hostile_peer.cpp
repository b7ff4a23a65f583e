// A verifier querying a suspect's server trusts nothing it answers: a model description nested
// 100,000 deep or with an absurd input shape is an Error naming the endpoint, not a crash or a
// huge allocation.
#include <gtest/gtest.h>
#include <httplib.h>

#include <thread>

#include "serve/http_oracle.h"

namespace signet {
namespace {

// The error HttpOracle gives for a server whose GET /v1/model answers `body`.
std::string error_for_description(const std::string& body) {
  httplib::Server peer;
  peer.Get("/v1/model", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(body, "application/json");
  });
  const int port = peer.bind_to_any_port("127.0.0.1");
  std::thread t([&] { peer.listen_after_bind(); });
  serve::HttpOracleOptions o;
  o.endpoint = "http://127.0.0.1:" + std::to_string(port);
  o.timeout_s = 10;
  std::string message;
  try {
    serve::HttpOracle oracle(o);
  } catch (const Error& e) {
    message = e.what();
  }
  peer.stop();
  t.join();
  return message;
}

std::string description(const std::string& input_shape) {
  return R"({"input_shape": )" + input_shape + R"(, "num_classes": 10, "limits": {"max_batch": 8}, )" +
         R"("answer": "labels"})";
}

TEST(ServeHostilePeer, DeeplyNestedDescriptionIsAnError) {
  const std::string e = error_for_description(description(std::string(100000, '[') + std::string(100000, ']')));
  EXPECT_NE(e.find("/v1/model answered: JSON nested 100001 levels deep"), std::string::npos) << e;
}

TEST(ServeHostilePeer, AbsurdInputShapeIsRefusedBeforeAnyQuery) {
  EXPECT_EQ(error_for_description(description("[1, 28, 28]")), "");
  const std::string e = error_for_description(description("[1, 4294967296, 4294967296]"));
  EXPECT_NE(e.find("/v1/model input_shape"), std::string::npos) << e;
  EXPECT_NE(e.find("limit for one input sample"), std::string::npos) << e;
  EXPECT_NE(error_for_description(description("[1,1,1,1,1,1,1,1,1,1]")).find("10 dimensions"), std::string::npos);
}

}  // namespace
}  // namespace signet
