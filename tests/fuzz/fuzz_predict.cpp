// `signet serve`'s POST /v1/predict bodies (server side) and the answers HttpOracle reads from a
// server it does not trust (client side). The first byte picks the decoder and the model:
//   bits 0-1: JSON request, binary request, JSON answer, binary answer
//   bit 2: a token model (input shape [8]) instead of an image model ([1, 4, 4])
//   bit 3: scores asked for
#include "serve/predict_codec.h"
#include "tests/fuzz/fuzz_target.h"

namespace signet::fuzz {

bool fuzz_predict(const std::string& input) {
  if (input.empty()) return false;
  const auto mode = static_cast<uint8_t>(input[0]);
  const std::string body = input.substr(1);
  const Shape shape = (mode & 4) ? Shape{8} : Shape{1, 4, 4};
  const bool scores = (mode & 8) != 0;
  const int64_t max_batch = 8, n = 2;
  switch (mode & 3) {
    case 0: {
      const serve::PredictRequest r = serve::decode_json_request(body, shape, max_batch);
      serve::encode_json_request(r.inputs, r.want_scores);
      break;
    }
    case 1: {
      const serve::PredictRequest r = serve::decode_binary_request(body, shape, max_batch, scores);
      serve::encode_binary_request(r.inputs);
      break;
    }
    case 2:
      serve::encode_json_answer(serve::decode_json_answer(body, n, scores, "fuzz-server"));
      break;
    default:
      serve::encode_binary_answer(serve::decode_binary_answer(body, n, scores, "fuzz-server"));
      break;
  }
  return true;
}

}  // namespace signet::fuzz

SIGNET_FUZZ_ENTRY(signet::fuzz::fuzz_predict)
