// HttpOracle: a served model answers a verifier over HTTP exactly as it does in-process; the
// errors a remote verifier meets (nothing listening, not a model server, another model, a query
// cap) are clear, and 429 answers are waited out.
#include <gtest/gtest.h>
#include <httplib.h>

#include "serve/http_oracle.h"
#include "tests/serve/serve_fixture.h"

namespace signet {
namespace {

using testing::RunningServer;

serve::HttpOracleOptions to(const RunningServer& s) {
  serve::HttpOracleOptions o;
  o.endpoint = s.url();
  o.timeout_s = 10;
  return o;
}

TEST(ServeHttpOracle, RemoteAnswersEqualLocalOnes) {
  auto local = testing::small_model_oracle();
  serve::ServeOptions opt;
  opt.answer_scores = true;
  opt.max_batch = 32;
  RunningServer s(local, opt);
  serve::HttpOracle remote(to(s));
  EXPECT_EQ(remote.num_classes(), 10);
  EXPECT_TRUE(remote.has_scores());
  EXPECT_EQ(remote.weights_sha256(), "0123abcd");
  remote.expect(ModelConfig{});
  for (int64_t n : {3, 100}) {  // JSON, then safetensors bodies in chunks of 32
    const Tensor x = testing::random_inputs(n, static_cast<uint64_t>(n));
    EXPECT_EQ(remote.labels(x).to_vector_i64(), local->labels(x).to_vector_i64());
    const Tensor rs = remote.scores(x), ls = local->scores(x);
    ASSERT_EQ(rs.shape(), ls.shape());
    for (int64_t i = 0; i < rs.numel(); ++i) ASSERT_NEAR(rs.f32()[i], ls.f32()[i], 1e-5f);
  }
  EXPECT_EQ(remote.queries(), 2 * (3 + 100));
}

TEST(ServeHttpOracle, ClearErrors) {
  int closed_port = 0;
  {
    RunningServer gone(testing::small_model_oracle(), serve::ServeOptions{});
    closed_port = gone.port();
  }
  serve::HttpOracleOptions o;
  o.endpoint = "http://127.0.0.1:" + std::to_string(closed_port);
  try {
    serve::HttpOracle unreachable(o);
    ADD_FAILURE() << "no error for an endpoint nothing listens on";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot reach"), std::string::npos) << e.what();
  }
  o.endpoint = "ftp://127.0.0.1:1";
  EXPECT_THROW(serve::HttpOracle bad_url(o), Error);

  // A web server that is not a model server.
  httplib::Server other;
  other.Get("/v1/model", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("<html>hello</html>", "text/html");
  });
  const int port = other.bind_to_any_port("127.0.0.1");
  std::thread t([&] { other.listen_after_bind(); });
  o.endpoint = "http://127.0.0.1:" + std::to_string(port);
  try {
    serve::HttpOracle foreign(o);
    ADD_FAILURE() << "no error for a server that is not a model server";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a signet model description"), std::string::npos) << e.what();
  }
  other.stop();
  t.join();

  RunningServer s(testing::small_model_oracle(), serve::ServeOptions{});
  serve::HttpOracleOptions capped = to(s);
  capped.max_queries = 5;
  serve::HttpOracle remote(capped);
  ModelConfig cifar;
  cifar.input_shape = {3, 32, 32};
  EXPECT_THROW(remote.expect(cifar), Error);
  EXPECT_NO_THROW(remote.labels(testing::random_inputs(4)));
  try {
    remote.labels(testing::random_inputs(2));
    ADD_FAILURE() << "--max-queries was not enforced";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--max-queries 5"), std::string::npos) << e.what();
  }
  EXPECT_EQ(remote.queries(), 4);
}

TEST(ServeHttpOracle, RateLimitedAnswersAreRetriedWithBackoff) {
  auto local = testing::small_model_oracle();
  serve::ServeOptions opt;
  opt.rate_limit = 200;  // inputs per second; a bucket of 200
  RunningServer s(local, opt);
  serve::HttpOracleOptions o = to(s);
  o.max_backoff_s = 0.5;
  serve::HttpOracle remote(o);
  const Tensor x = testing::random_inputs(500);  // in chunks of 256: the second waits for tokens
  EXPECT_EQ(remote.labels(x).to_vector_i64(), local->labels(x).to_vector_i64());
  EXPECT_GT(remote.retries(), 0);
}

}  // namespace
}  // namespace signet
