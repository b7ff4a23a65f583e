#include "serve/predict_codec.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "engine/serialize/safetensors.h"
#include "engine/serialize/untrusted_json.h"

namespace signet::serve {

namespace {
using nlohmann::json;

RequestError bad(const std::string& message) { return RequestError(400, message); }

void check_batch(int64_t n, int64_t max_batch) {
  if (n < 1) throw bad("the request holds no inputs");
  if (n > max_batch)
    throw RequestError(413, fmt::format("{} inputs in one request; this server answers at most {} (split the batch)",
                                        n, max_batch));
}

// One input as nested arrays of exactly `shape` (from dim on), written to out.
void read_nested(const json& v, const Shape& shape, size_t dim, std::vector<float>& out, int64_t index) {
  if (dim == shape.size()) {
    if (!v.is_number()) throw bad(fmt::format("input {}: expected a number, found {}", index, v.type_name()));
    const float x = static_cast<float>(v.get<double>());
    if (!std::isfinite(x)) throw bad(fmt::format("input {}: values must be finite float32 numbers", index));
    out.push_back(x);
    return;
  }
  if (!v.is_array() || static_cast<int64_t>(v.size()) != shape[dim])
    throw bad(fmt::format("input {}: dimension {} must be an array of {} entries (the model takes inputs of shape {}), "
                          "found {}",
                          index, dim, shape[dim], shape_str(shape),
                          v.is_array() ? fmt::format("{} entries", v.size()) : std::string(v.type_name())));
  for (const json& e : v) read_nested(e, shape, dim + 1, out, index);
}

std::vector<int64_t> int_labels(const Tensor& labels) {
  const Tensor l = labels.contiguous();
  return std::vector<int64_t>(l.i64(), l.i64() + l.numel());
}
}  // namespace

PredictRequest decode_json_request(const std::string& body, const Shape& input_shape, int64_t max_batch) {
  if (json_nesting_depth(body) > kMaxJsonDepth)
    throw bad(fmt::format("the body nests arrays and objects more than {} deep", kMaxJsonDepth));
  json j;
  try {
    j = json::parse(body);
  } catch (const json::exception& e) {
    throw bad(fmt::format("the body is not valid JSON ({})", e.what()));
  }
  if (!j.is_object()) throw bad("the body must be a JSON object {\"inputs\": [...], \"answer\": \"labels\"}");
  PredictRequest r;
  for (const auto& [key, value] : j.items()) {
    if (key == "answer") {
      if (!value.is_string() || (value != "labels" && value != "scores"))
        throw bad("\"answer\" must be \"labels\" or \"scores\"");
      r.want_scores = value == "scores";
    } else if (key != "inputs") {
      throw bad(fmt::format("unknown field \"{}\" (a request has \"inputs\" and optionally \"answer\")", key));
    }
  }
  const auto it = j.find("inputs");
  if (it == j.end() || !it->is_array()) throw bad("the request needs \"inputs\": an array of inputs");
  const int64_t n = static_cast<int64_t>(it->size());
  check_batch(n, max_batch);
  const int64_t per = shape_numel(input_shape);
  Shape full = {n};
  full.insert(full.end(), input_shape.begin(), input_shape.end());
  // Values are gathered as they are found, so memory follows the body's size rather than the batch it claims.
  std::vector<float> out;
  for (int64_t i = 0; i < n; ++i) {
    const json& x = (*it)[static_cast<size_t>(i)];
    // A flat array of C*H*W numbers is accepted as well as the nested form.
    const bool flat = input_shape.size() > 1 && x.is_array() && static_cast<int64_t>(x.size()) == per &&
                      !x.empty() && x.front().is_number();
    read_nested(x, flat ? Shape{per} : input_shape, 0, out, i);
  }
  r.inputs = Tensor::from_vector(out, full);
  return r;
}

PredictRequest decode_binary_request(const std::string& body, const Shape& input_shape, int64_t max_batch,
                                     bool want_scores) {
  NamedTensors nt;
  try {
    nt = decode_safetensors(body, "the request body");
  } catch (const Error& e) {
    throw bad(fmt::format("the body is not a valid safetensors blob: {}", e.what()));
  }
  if (nt.tensors.size() != 1 || nt.tensors[0].first != "input")
    throw bad(fmt::format("the safetensors body must hold exactly one tensor named \"input\", it holds {}",
                          nt.tensors.size()));
  PredictRequest r;
  r.want_scores = want_scores;
  r.inputs = nt.tensors[0].second.contiguous();
  if (r.inputs.dtype() != DType::F32) throw bad("tensor \"input\" must be float32 (F32, F16, BF16 or F64 on the wire)");
  const Shape& s = r.inputs.shape();
  if (s.size() != input_shape.size() + 1 || !std::equal(input_shape.begin(), input_shape.end(), s.begin() + 1))
    throw bad(fmt::format("tensor \"input\" is {}; the model takes [n, {}]", shape_str(s),
                          shape_str(input_shape).substr(1)));
  check_batch(s[0], max_batch);
  const float* p = r.inputs.f32();
  for (int64_t i = 0, m = r.inputs.numel(); i < m; ++i)
    if (!std::isfinite(p[i])) throw bad(fmt::format("input {}: values must be finite", i / shape_numel(input_shape)));
  return r;
}

std::string encode_json_answer(const PredictAnswer& a) {
  json j = {{"labels", int_labels(a.labels)}, {"queries", a.labels.numel()}};
  if (a.scores.defined()) {
    const Tensor s = a.scores.contiguous();
    const int64_t n = s.size(0), C = s.size(1);
    json rows = json::array();
    for (int64_t r = 0; r < n; ++r) rows.push_back(std::vector<float>(s.f32() + r * C, s.f32() + (r + 1) * C));
    j["scores"] = std::move(rows);
  }
  return j.dump();
}

std::string encode_binary_answer(const PredictAnswer& a) {
  NamedTensors nt;
  nt.tensors.emplace_back("labels", a.labels.contiguous());
  if (a.scores.defined()) nt.tensors.emplace_back("scores", a.scores.contiguous());
  return encode_safetensors(nt);
}

std::string encode_json_request(const Tensor& inputs, bool want_scores) {
  const Tensor x = inputs.contiguous();
  const int64_t n = x.size(0), per = n ? x.numel() / n : 0;
  json rows = json::array();
  for (int64_t i = 0; i < n; ++i) rows.push_back(std::vector<float>(x.f32() + i * per, x.f32() + (i + 1) * per));
  return json{{"inputs", std::move(rows)}, {"answer", want_scores ? "scores" : "labels"}}.dump();
}

std::string encode_binary_request(const Tensor& inputs) {
  NamedTensors nt;
  nt.tensors.emplace_back("input", inputs.contiguous());
  return encode_safetensors(nt);
}

namespace {
void check_answer(const PredictAnswer& a, int64_t n, bool want_scores, const std::string& source) {
  SIGNET_CHECK(a.labels.defined() && a.labels.dtype() == DType::I64 && a.labels.dim() == 1 && a.labels.size(0) == n,
               "{} answered {} labels for {} queries: not a model of the expected kind", source,
               a.labels.defined() ? a.labels.numel() : 0, n);
  if (!want_scores) return;
  SIGNET_CHECK(a.scores.defined() && a.scores.dtype() == DType::F32 && a.scores.dim() == 2 && a.scores.size(0) == n &&
                   a.scores.size(1) >= 2,
               "{} answered no class scores [{}, C] for {} queries", source, n, n);
  const float* p = a.scores.f32();
  for (int64_t i = 0; i < a.scores.numel(); ++i)
    SIGNET_CHECK(std::isfinite(p[i]), "{} answered a score that is not a finite number", source);
}
}  // namespace

PredictAnswer decode_json_answer(const std::string& body, int64_t n, bool want_scores, const std::string& source) {
  require_json_depth(body, source + " answered");
  json j;
  try {
    j = json::parse(body);
  } catch (const json::exception&) {
    throw Error(fmt::format("{} answered something that is not JSON (is it a signet model server?)", source));
  }
  SIGNET_CHECK(j.is_object() && j.contains("labels") && j["labels"].is_array(),
               "{} answered JSON without \"labels\" (is it a signet model server?)", source);
  PredictAnswer a;
  std::vector<int64_t> labels;
  for (const json& l : j["labels"]) {
    SIGNET_CHECK(l.is_number_integer(), "{} answered a label that is not an integer", source);
    labels.push_back(l.get<int64_t>());
  }
  a.labels = Tensor::from_vector_i64(labels, {static_cast<int64_t>(labels.size())});
  if (want_scores) {
    SIGNET_CHECK(j.contains("scores") && j["scores"].is_array() && static_cast<int64_t>(j["scores"].size()) == n &&
                     n > 0 && j["scores"][0].is_array(),
                 "{} answered no class scores for {} queries", source, n);
    const size_t C = j["scores"][0].size();
    std::vector<float> flat;
    for (const json& row : j["scores"]) {
      SIGNET_CHECK(row.is_array() && row.size() == C, "{} answered score rows of different lengths", source);
      for (const json& v : row) {
        SIGNET_CHECK(v.is_number(), "{} answered a score that is not a number", source);
        flat.push_back(static_cast<float>(v.get<double>()));
      }
    }
    a.scores = Tensor::from_vector(flat, {n, static_cast<int64_t>(C)});
  }
  check_answer(a, n, want_scores, source);
  return a;
}

PredictAnswer decode_binary_answer(const std::string& body, int64_t n, bool want_scores, const std::string& source) {
  NamedTensors nt;
  try {
    nt = decode_safetensors(body, source);
  } catch (const Error& e) {
    throw Error(fmt::format("{} answered a body that is not a safetensors blob ({})", source, e.what()));
  }
  PredictAnswer a;
  if (const Tensor* l = nt.find("labels")) a.labels = l->contiguous();
  if (const Tensor* s = nt.find("scores")) a.scores = s->contiguous();
  check_answer(a, n, want_scores, source);
  return a;
}

}  // namespace signet::serve
