// The model server's parts without a network: the wire format, the client gate (auth, budget,
// rate) and the batcher that gathers concurrent requests into model calls.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <thread>

#include "engine/serialize/safetensors.h"
#include "serve/client_gate.h"
#include "serve/inference_batcher.h"
#include "serve/predict_codec.h"
#include "tests/serve/serve_fixture.h"

namespace signet {
namespace {

using serve::RequestError;
const Shape kShape = {1, 2, 2};

// The status and message of the RequestError `f` throws (0 when it throws none).
template <class F>
std::pair<int, std::string> request_error(F f) {
  try {
    f();
  } catch (const RequestError& e) {
    return {e.status, e.what()};
  }
  return {0, ""};
}

TEST(ServeCodec, JsonNestedAndFlatInputsDecodeAlike) {
  const auto nested = serve::decode_json_request(R"({"inputs": [[[[1, 2], [3, 4]]]], "answer": "scores"})", kShape, 8);
  const auto flat = serve::decode_json_request(R"({"inputs": [[1, 2, 3, 4]]})", kShape, 8);
  ASSERT_EQ(nested.inputs.shape(), (Shape{1, 1, 2, 2}));
  EXPECT_TRUE(nested.want_scores);
  EXPECT_FALSE(flat.want_scores);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(nested.inputs.f32()[i], flat.inputs.f32()[i]);
  EXPECT_EQ(flat.inputs.f32()[3], 4.0f);
}

TEST(ServeCodec, MalformedJsonRequestsSayWhatIsWrong) {
  auto dec = [](const std::string& body) {
    return request_error([&] { serve::decode_json_request(body, kShape, 2); });
  };
  EXPECT_EQ(dec("{\"inputs\": [").first, 400);
  EXPECT_NE(dec("{\"inputs\": [").second.find("not valid JSON"), std::string::npos);
  EXPECT_EQ(dec("[1, 2]").first, 400);
  EXPECT_NE(dec("{}").second.find("\"inputs\""), std::string::npos);
  EXPECT_NE(dec(R"({"inputs": []})").second.find("no inputs"), std::string::npos);
  const auto shape = dec(R"({"inputs": [[[[1, 2, 3], [3, 4, 5]]]]})");
  EXPECT_EQ(shape.first, 400);
  EXPECT_NE(shape.second.find("[1, 2, 2]"), std::string::npos) << shape.second;
  EXPECT_NE(dec(R"({"inputs": [[1, 2, 3]]})").second.find("input 0"), std::string::npos);
  EXPECT_NE(dec(R"({"inputs": [[1, 2, "x", 4]]})").second.find("expected a number"), std::string::npos);
  EXPECT_NE(dec(R"({"inputs": [[1, 2, 3, 1e39]]})").second.find("finite"), std::string::npos);  // inf as float32
  EXPECT_EQ(dec(R"({"inputs": [[1, 2, 3, 1e999]]})").first, 400);
  EXPECT_NE(dec(R"({"inputs": [[1, 2, 3, 4]], "answer": "logits"})").second.find("\"answer\""), std::string::npos);
  EXPECT_NE(dec(R"({"inputs": [[1, 2, 3, 4]], "extra": 1})").second.find("unknown field"), std::string::npos);
  const auto big = dec(R"({"inputs": [[1, 2, 3, 4], [1, 2, 3, 4], [1, 2, 3, 4]]})");
  EXPECT_EQ(big.first, 413);
  EXPECT_NE(big.second.find("at most 2"), std::string::npos);
}

TEST(ServeCodec, BinaryRequestsRoundTripAndRejectBadBlobs) {
  const Tensor x = testing::random_inputs(3);
  const auto ok = serve::decode_binary_request(serve::encode_binary_request(x), {1, 28, 28}, 8, true);
  ASSERT_EQ(ok.inputs.shape(), x.shape());
  EXPECT_TRUE(ok.want_scores);
  for (int64_t i = 0; i < x.numel(); ++i) ASSERT_EQ(ok.inputs.f32()[i], x.f32()[i]);

  auto dec = [](const std::string& body, const Shape& shape) {
    return request_error([&] { serve::decode_binary_request(body, shape, 2, false); });
  };
  const std::string blob = serve::encode_binary_request(x);
  const auto truncated = dec(blob.substr(0, blob.size() - 100), {1, 28, 28});
  EXPECT_EQ(truncated.first, 400);
  EXPECT_NE(truncated.second.find("safetensors"), std::string::npos);
  EXPECT_EQ(dec("garbage", {1, 28, 28}).first, 400);
  EXPECT_NE(dec(blob, {3, 28, 28}).second.find("[n, 3, 28, 28]"), std::string::npos);
  EXPECT_EQ(dec(blob, {1, 28, 28}).first, 413);  // 3 inputs, at most 2
  NamedTensors other;
  other.tensors.emplace_back("x", Tensor::zeros({1, 1, 2, 2}));
  EXPECT_NE(dec(encode_safetensors(other), kShape).second.find("\"input\""), std::string::npos);
  Tensor nan = Tensor::zeros({1, 1, 2, 2});
  nan.f32()[2] = std::nanf("");
  EXPECT_NE(dec(serve::encode_binary_request(nan), kShape).second.find("finite"), std::string::npos);
}

TEST(ServeCodec, AnswersRoundTripAndForeignAnswersAreErrors) {
  serve::PredictAnswer a;
  a.labels = Tensor::from_vector_i64({3, 1}, {2});
  a.scores = Tensor::from_vector({0.25f, 0.75f, 0.125f, 0.875f}, {2, 2});
  for (bool binary : {false, true}) {
    const serve::PredictAnswer b = binary
        ? serve::decode_binary_answer(serve::encode_binary_answer(a), 2, true, "test")
        : serve::decode_json_answer(serve::encode_json_answer(a), 2, true, "test");
    EXPECT_EQ(b.labels.to_vector_i64(), (std::vector<int64_t>{3, 1}));
    for (int i = 0; i < 4; ++i) EXPECT_EQ(b.scores.f32()[i], a.scores.f32()[i]);
  }
  EXPECT_THROW(serve::decode_json_answer("<html>", 2, false, "test"), Error);
  EXPECT_THROW(serve::decode_json_answer(R"({"labels": [1]})", 2, false, "test"), Error);
  EXPECT_THROW(serve::decode_json_answer(R"({"labels": [1, 2]})", 2, true, "test"), Error);
  EXPECT_THROW(serve::decode_binary_answer("junk", 2, false, "test"), Error);
}

TEST(ServeGate, BearerTokenIsCheckedExactly) {
  serve::ClientGate open("", 0, 0, 1);
  EXPECT_TRUE(open.authorized(""));
  serve::ClientGate gate("s3cret-key", 0, 0, 1);
  EXPECT_TRUE(gate.authorized("Bearer s3cret-key"));
  EXPECT_FALSE(gate.authorized(""));
  EXPECT_FALSE(gate.authorized("Bearer "));
  EXPECT_FALSE(gate.authorized("Bearer s3cret-ke"));
  EXPECT_FALSE(gate.authorized("Bearer s3cret-keyy"));
  EXPECT_FALSE(gate.authorized("Basic s3cret-key"));
  EXPECT_FALSE(gate.authorized("s3cret-key"));
}

TEST(ServeGate, BudgetIsPerClientAndCountsInputs) {
  serve::ClientGate gate("", 10, 0, 1);
  EXPECT_EQ(gate.admit("a", 6).remaining, 4);
  EXPECT_EQ(gate.admit("a", 5).verdict, serve::ClientGate::Verdict::OverBudget);  // nothing charged
  EXPECT_EQ(gate.admit("a", 4).remaining, 0);
  EXPECT_EQ(gate.admit("a", 1).verdict, serve::ClientGate::Verdict::OverBudget);
  EXPECT_EQ(gate.admit("b", 10).verdict, serve::ClientGate::Verdict::Admitted);
}

TEST(ServeGate, RateLimitRefillsOverTime) {
  serve::ClientGate gate("", 0, 100, 10);  // 100 inputs/s, bucket of 10
  EXPECT_EQ(gate.admit("a", 10).verdict, serve::ClientGate::Verdict::Admitted);
  const auto limited = gate.admit("a", 5);
  ASSERT_EQ(limited.verdict, serve::ClientGate::Verdict::RateLimited);
  EXPECT_GT(limited.retry_after_s, 0);
  EXPECT_LE(limited.retry_after_s, 0.06);
  EXPECT_EQ(gate.admit("b", 5).verdict, serve::ClientGate::Verdict::Admitted);  // another client
  std::this_thread::sleep_for(std::chrono::milliseconds(80));
  EXPECT_EQ(gate.admit("a", 5).verdict, serve::ClientGate::Verdict::Admitted);
}

TEST(ServeBatcher, ConcurrentRequestsShareModelCallsAndGetTheirOwnRows) {
  auto oracle = testing::small_model_oracle();
  const Tensor x = testing::random_inputs(32);
  const Tensor expected = oracle->labels(x).clone();
  const Tensor expected_scores = oracle->scores(x).clone();
  serve::InferenceBatcher batcher(oracle, 64, 50000, 4096);  // wait up to 50 ms for a call to fill
  batcher.arriving(16);  // as the server announces requests it is reading
  std::vector<std::thread> clients;
  std::atomic<int> wrong{0};
  for (int c = 0; c < 16; ++c)
    clients.emplace_back([&, c] {
      const Tensor mine = x.narrow_view(0, 2 * c, 2).contiguous();
      const serve::PredictAnswer a = batcher.predict(mine, c % 2 == 1, true);
      for (int i = 0; i < 2; ++i) {
        if (a.labels.i64()[i] != expected.i64()[2 * c + i]) ++wrong;
        // Batches of another size may round differently in the last bits.
        if (c % 2 == 1 && std::abs(a.scores.f32()[i * 10 + 4] - expected_scores.f32()[(2 * c + i) * 10 + 4]) > 1e-5f)
          ++wrong;
      }
    });
  for (auto& t : clients) t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_LE(batcher.model_calls(), 4);  // 16 requests gathered into a labels and a scores call (or a few more)
}

TEST(ServeBatcher, OverloadAndStopAnswerBusy) {
  auto oracle = testing::small_model_oracle();
  serve::InferenceBatcher batcher(oracle, 4, 0, 4);
  EXPECT_EQ(batcher.predict(testing::random_inputs(4), false).labels.numel(), 4);
  batcher.stop();
  EXPECT_THROW(batcher.predict(testing::random_inputs(1), false), serve::Busy);
}

}  // namespace
}  // namespace signet
