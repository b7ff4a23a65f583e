// The wire format of POST /v1/predict, both sides (the server and HttpOracle).
//
// Requests carry a batch of raw inputs (float32 [n, C, H, W] in the data set's range, not
// normalised: what oracle.h calls a query) in one of two bodies:
//   application/json: {"inputs": [x_1, ..., x_n], "answer": "labels" | "scores"}, each x_i either
//     nested arrays of exactly the model's input shape or one flat array of C*H*W numbers;
//     "answer" is optional (default "labels"). Small batches.
//   application/octet-stream: a safetensors blob holding one tensor "input" [n, C, H, W]; the
//     answer kind is the query parameter ?answer=scores. Large batches; answered in kind.
// Answers: JSON {"labels": [n ints], "scores": [[C floats] x n] (only when asked), "queries": n}
// or a safetensors blob with "labels" (I64 [n]) and "scores" (F32 [n, C']).
//
// Everything a client can get wrong is a RequestError with the HTTP status to answer (400, 413,
// 415, 422) and a message that says what was wrong.
#pragma once
#include <string>

#include "engine/error.h"
#include "engine/tensor.h"

namespace signet::serve {

struct RequestError : Error {
  RequestError(int status_code, const std::string& message) : Error(message), status(status_code) {}
  int status;
};

struct PredictRequest {
  Tensor inputs;  // float32 [n, input_shape...]
  bool want_scores = false;
};

struct PredictAnswer {
  Tensor labels;  // int64 [n]
  Tensor scores;  // float32 [n, C'] (undefined when labels only)
};

inline const char* kJsonType = "application/json";
inline const char* kBinaryType = "application/octet-stream";

// Server side. `input_shape` is the model's (without the batch); at most max_batch inputs.
PredictRequest decode_json_request(const std::string& body, const Shape& input_shape, int64_t max_batch);
PredictRequest decode_binary_request(const std::string& body, const Shape& input_shape, int64_t max_batch,
                                     bool want_scores);
std::string encode_json_answer(const PredictAnswer& a);
std::string encode_binary_answer(const PredictAnswer& a);

// Client side. Errors name `source` (the endpoint) when the answer is not what was asked.
std::string encode_json_request(const Tensor& inputs, bool want_scores);
std::string encode_binary_request(const Tensor& inputs);
PredictAnswer decode_json_answer(const std::string& body, int64_t n, bool want_scores, const std::string& source);
PredictAnswer decode_binary_answer(const std::string& body, int64_t n, bool want_scores, const std::string& source);

}  // namespace signet::serve
