// The model server over real loopback HTTP: routes, answers equal to in-process predictions,
// every limit and error path with a 4xx that says what was wrong (and the server still serving
// afterwards), authentication, slow and truncated clients, and stop() finishing requests in flight.
#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>

#include "serve/predict_codec.h"
#include "tests/serve/serve_fixture.h"

namespace signet {
namespace {

using nlohmann::json;
using testing::RawClient;
using testing::RunningServer;

std::unique_ptr<httplib::Client> client_for(const RunningServer& s) {
  auto c = std::make_unique<httplib::Client>("127.0.0.1", s.port());
  c->set_connection_timeout(5);
  c->set_read_timeout(10);
  c->set_write_timeout(10);
  return c;
}

std::string error_of(const httplib::Result& r) { return json::parse(r->body).at("error").get<std::string>(); }

void expect_still_serving(const RunningServer& s) {
  auto r = client_for(s)->Get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST(ServeHttp, RoutesAnswerAsLocalPredictionsDo) {
  auto oracle = testing::small_model_oracle();
  serve::ServeOptions opt;
  opt.answer_scores = true;
  RunningServer s(oracle, opt);
  auto c = client_for(s);
  auto health = c->Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  auto model = c->Get("/v1/model");
  ASSERT_TRUE(model);
  const json m = json::parse(model->body);
  EXPECT_EQ(m["model"], "mnist-mlp");
  EXPECT_EQ(m["input_shape"], json({1, 28, 28}));
  EXPECT_EQ(m["num_classes"], 10);
  EXPECT_EQ(m["classes"].size(), 10u);
  EXPECT_EQ(m["weights_sha256"], "0123abcd");
  EXPECT_EQ(m["answer"], "scores");

  const Tensor x = testing::random_inputs(40);
  const Tensor labels = oracle->labels(x).clone();
  auto js = c->Post("/v1/predict", serve::encode_json_request(x.narrow_view(0, 0, 5).contiguous(), true),
                    serve::kJsonType);
  ASSERT_TRUE(js);
  ASSERT_EQ(js->status, 200) << js->body;
  const auto ja = serve::decode_json_answer(js->body, 5, true, "test");
  for (int i = 0; i < 5; ++i) EXPECT_EQ(ja.labels.i64()[i], labels.i64()[i]);
  EXPECT_EQ(ja.scores.shape(), (Shape{5, 10}));

  auto bin = c->Post("/v1/predict", serve::encode_binary_request(x), serve::kBinaryType);
  ASSERT_TRUE(bin);
  ASSERT_EQ(bin->status, 200) << bin->body;
  EXPECT_EQ(bin->get_header_value("Content-Type"), serve::kBinaryType);
  const auto ba = serve::decode_binary_answer(bin->body, 40, false, "test");
  EXPECT_EQ(ba.labels.to_vector_i64(), labels.to_vector_i64());
  EXPECT_FALSE(ba.scores.defined());
}

TEST(ServeHttp, MalformedRequestsGet4xxAndTheServerKeepsServing) {
  serve::ServeOptions opt;
  opt.max_batch = 16;
  opt.max_body_bytes = 1 << 20;
  RunningServer s(testing::small_model_oracle(), opt);
  auto c = client_for(s);
  auto bad_json = c->Post("/v1/predict", "{\"inputs\": [[1, 2", serve::kJsonType);
  ASSERT_TRUE(bad_json);
  EXPECT_EQ(bad_json->status, 400);
  EXPECT_NE(error_of(bad_json).find("not valid JSON"), std::string::npos);
  auto shape = c->Post("/v1/predict", R"({"inputs": [[1, 2, 3]]})", serve::kJsonType);
  ASSERT_TRUE(shape);
  EXPECT_EQ(shape->status, 400);
  EXPECT_NE(error_of(shape).find("[1, 28, 28]"), std::string::npos) << error_of(shape);
  auto type = c->Post("/v1/predict", "inputs=1", "application/x-www-form-urlencoded");
  ASSERT_TRUE(type);
  EXPECT_EQ(type->status, 415);
  EXPECT_NE(error_of(type).find("application/json"), std::string::npos);
  auto huge = c->Post("/v1/predict", std::string(2 << 20, ' '), serve::kJsonType);
  ASSERT_TRUE(huge);
  EXPECT_EQ(huge->status, 413);
  auto batch = c->Post("/v1/predict", serve::encode_binary_request(testing::random_inputs(17)), serve::kBinaryType);
  ASSERT_TRUE(batch);
  EXPECT_EQ(batch->status, 413);
  EXPECT_NE(error_of(batch).find("at most 16"), std::string::npos);
  const std::string blob = serve::encode_binary_request(testing::random_inputs(4));
  auto truncated = c->Post("/v1/predict", blob.substr(0, blob.size() / 2), serve::kBinaryType);
  ASSERT_TRUE(truncated);
  EXPECT_EQ(truncated->status, 400);
  auto kind = c->Post("/v1/predict?answer=probs", blob, serve::kBinaryType);
  ASSERT_TRUE(kind);
  EXPECT_EQ(kind->status, 400);
  auto scores = c->Post("/v1/predict?answer=scores", blob, serve::kBinaryType);  // a labels-only server
  ASSERT_TRUE(scores);
  EXPECT_EQ(scores->status, 403);
  auto route = c->Get("/v2/predict");
  ASSERT_TRUE(route);
  EXPECT_EQ(route->status, 404);
  EXPECT_NE(error_of(route).find("no such route"), std::string::npos);
  auto method = c->Get("/v1/predict");
  ASSERT_TRUE(method);
  EXPECT_EQ(method->status, 405);

  // A body cut short by a client that goes away, and garbage instead of HTTP.
  {
    RawClient raw(s.port());
    ASSERT_TRUE(raw.connected());
    raw.send("POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: " +
             std::to_string(blob.size()) + "\r\n\r\n" + blob.substr(0, 100));
  }
  {
    RawClient raw(s.port());
    raw.send("\x16\x03\x01 not http at all\r\n\r\n");
    raw.read_all(2);
  }
  expect_still_serving(s);
  auto ok = c->Post("/v1/predict", blob, serve::kBinaryType);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
}

TEST(ServeHttp, BearerTokenIsRequiredWhenSet) {
  serve::ServeOptions opt;
  opt.api_key = "k3y-for-tests";
  RunningServer s(testing::small_model_oracle(), opt);
  auto c = client_for(s);
  const std::string body = serve::encode_json_request(testing::random_inputs(1), false);
  auto missing = c->Post("/v1/predict", body, serve::kJsonType);
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 401);
  EXPECT_EQ(missing->get_header_value("WWW-Authenticate"), "Bearer");
  auto model = c->Get("/v1/model");
  ASSERT_TRUE(model);
  EXPECT_EQ(model->status, 401);
  c->set_bearer_token_auth("k3y-for-test");
  auto wrong = c->Post("/v1/predict", body, serve::kJsonType);
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  EXPECT_NE(error_of(wrong).find("wrong"), std::string::npos);
  c->set_bearer_token_auth("k3y-for-tests");
  auto right = c->Post("/v1/predict", body, serve::kJsonType);
  ASSERT_TRUE(right);
  EXPECT_EQ(right->status, 200);
  expect_still_serving(s);  // health checks need no token
}

TEST(ServeHttp, BudgetAndRateLimitPerClient) {
  serve::ServeOptions opt;
  opt.query_budget = 10;
  RunningServer budget(testing::small_model_oracle(), opt);
  auto c = client_for(budget);
  const std::string six = serve::encode_binary_request(testing::random_inputs(6));
  auto first = c->Post("/v1/predict", six, serve::kBinaryType);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 200);
  EXPECT_EQ(first->get_header_value("X-Queries-Remaining"), "4");
  auto second = c->Post("/v1/predict", six, serve::kBinaryType);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 403);
  EXPECT_NE(error_of(second).find("budget"), std::string::npos);

  serve::ServeOptions rate;
  rate.rate_limit = 2;  // inputs per second; the bucket holds max(2, min(max_batch, 64)) = 64
  rate.max_batch = 64;
  RunningServer limited(testing::small_model_oracle(), rate);
  auto r = client_for(limited);
  const std::string sixty = serve::encode_binary_request(testing::random_inputs(60));
  auto a = r->Post("/v1/predict", sixty, serve::kBinaryType);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->status, 200);
  auto b = r->Post("/v1/predict", sixty, serve::kBinaryType);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->status, 429);
  EXPECT_FALSE(b->get_header_value("Retry-After").empty());
}

TEST(ServeHttp, SlowClientsAreDroppedAfterTheReadTimeout) {
  serve::ServeOptions opt;
  opt.read_timeout_s = 1;
  opt.keep_alive_s = 1;  // after the failed read the connection waits out a keep-alive period
  RunningServer s(testing::small_model_oracle(), opt);
  RawClient slow(s.port());
  ASSERT_TRUE(slow.connected());
  slow.send("POST /v1/predict HTTP/1.1\r\nHost: x\r\n");  // ... and never the rest
  const auto t0 = std::chrono::steady_clock::now();
  slow.read_all(8);
  EXPECT_TRUE(slow.closed());
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 4.0);
  expect_still_serving(s);
}

TEST(ServeHttp, StopFinishesRequestsInFlight) {
  RunningServer s(testing::small_model_oracle(), serve::ServeOptions{});
  const std::string blob = serve::encode_binary_request(testing::random_inputs(8));
  RawClient raw(s.port());
  ASSERT_TRUE(raw.connected());
  // Half a request is in; the server is told to stop; then the rest arrives.
  raw.send("POST /v1/predict HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/octet-stream\r\n"
           "Content-Length: " + std::to_string(blob.size()) + "\r\n\r\n" + blob.substr(0, blob.size() / 2));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  std::thread stopper([&] { s.stop(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  raw.send(blob.substr(blob.size() / 2));
  const std::string response = raw.read_response(10);
  stopper.join();
  EXPECT_EQ(testing::status_of(response), 200) << response.substr(0, 200);
  RawClient late(s.port());
  EXPECT_FALSE(late.connected());  // no longer listening
}

}  // namespace
}  // namespace signet
