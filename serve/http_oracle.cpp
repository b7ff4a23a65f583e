#include "serve/http_oracle.h"

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <regex>
#include <thread>

#include "engine/ops.h"
#include "engine/serialize/untrusted_json.h"
#include "serve/predict_codec.h"

namespace signet::serve {

using nlohmann::json;

HttpOracle::HttpOracle(HttpOracleOptions options) : opt_(std::move(options)) {
  static const std::regex kEndpoint(R"(^https?://([A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?/?$)");
  SIGNET_CHECK(std::regex_match(opt_.endpoint, kEndpoint),
               "--remote must be http://HOST:PORT (the address `signet serve` prints), got \"{}\"", opt_.endpoint);
  if (opt_.endpoint.back() == '/') opt_.endpoint.pop_back();
  SIGNET_CHECK(opt_.max_queries >= 0, "--max-queries must be >= 0 (0: no limit), got {}", opt_.max_queries);
  client_ = std::make_unique<httplib::Client>(opt_.endpoint);
  SIGNET_CHECK(client_->is_valid(), "cannot make an HTTP client for {}", opt_.endpoint);
  // A dead address should fail within seconds, a slow answer may take longer.
  client_->set_connection_timeout(std::min(opt_.timeout_s, 10));
  client_->set_read_timeout(opt_.timeout_s);
  client_->set_write_timeout(opt_.timeout_s);
  client_->set_keep_alive(true);
  client_->set_tcp_nodelay(true);  // a small JSON body would otherwise wait ~40 ms behind its headers
  if (!opt_.api_key.empty()) client_->set_bearer_token_auth(opt_.api_key);

  const Reply r = send("GET", "/v1/model", "", "");
  require_json_depth(r.body, opt_.endpoint + "/v1/model answered");
  try {
    info_ = json::parse(r.body);
    input_shape_ = info_.at("input_shape").get<Shape>();
    num_classes_ = info_.at("num_classes").get<int64_t>();
    max_batch_ = info_.at("limits").at("max_batch").get<int64_t>();
    scores_ = info_.at("answer").get<std::string>() == "scores";
  } catch (const json::exception&) {
    throw Error(fmt::format("{} answers GET /v1/model with something that is not a signet model description: {}",
                            opt_.endpoint, r.body.substr(0, 200)));
  }
  SIGNET_CHECK(input_shape_.size() <= 8, "{} describes a model whose inputs have {} dimensions: not a model it can "
               "answer for", opt_.endpoint, input_shape_.size());
  checked_numel(input_shape_, opt_.endpoint + " /v1/model input_shape", kMaxSampleElements);
  SIGNET_CHECK(!input_shape_.empty() && num_classes_ >= 1 && max_batch_ >= 1,
               "{} describes a model with input shape {}, {} classes and batches of {}: not a model it can answer for",
               opt_.endpoint, shape_str(input_shape_), num_classes_, max_batch_);
}

HttpOracle::~HttpOracle() = default;

void HttpOracle::expect(const ModelConfig& config) const {
  SIGNET_CHECK(input_shape_ == config.input_shape && num_classes_ == config.num_classes,
               "{} serves a model ({}) of input shape {} with {} classes; the keys are for input shape {} with {} "
               "classes, so it cannot be the suspect they were made for",
               opt_.endpoint, model_name(), shape_str(input_shape_), num_classes_, shape_str(config.input_shape),
               config.num_classes);
}

std::string HttpOracle::describe() const { return fmt::format("{} ({}, remote)", opt_.endpoint, model_name()); }

HttpOracle::Reply HttpOracle::send(const std::string& method, const std::string& path, const std::string& body,
                                   const std::string& content_type) {
  for (int attempt = 0;; ++attempt) {
    httplib::Result res = method == "GET" ? client_->Get(path.c_str())
                                          : client_->Post(path.c_str(), body, content_type.c_str());
    if (!res)
      throw Error(fmt::format("cannot reach {} ({}: {}); is `signet serve` running there?", opt_.endpoint,
                              path, httplib::to_string(res.error())));
    if (res->status == 200) return {res->status, res->body, res->get_header_value("Content-Type")};
    std::string message = res->body.substr(0, 200);
    if (json_nesting_depth(res->body) <= kMaxJsonDepth) {
      try {
        message = json::parse(res->body).at("error").get<std::string>().substr(0, 500);
      } catch (const json::exception&) {
      }
    }
    const bool transient = res->status == 429 || res->status == 503;
    if (!transient || attempt >= opt_.max_retries)
      throw Error(fmt::format("{} answered {} {} with HTTP {}: {}{}", opt_.endpoint, method, path, res->status,
                              message, transient ? fmt::format(" (after {} retries)", attempt) : ""));
    double wait = std::min(opt_.max_backoff_s, 0.1 * std::pow(2.0, attempt));
    if (res->has_header("Retry-After")) {
      try {
        wait = std::min(opt_.max_backoff_s, std::max(wait, std::stod(res->get_header_value("Retry-After"))));
      } catch (const std::exception&) {  // an HTTP date or junk: keep the exponential wait
      }
    }
    ++retries_;
    std::this_thread::sleep_for(std::chrono::duration<double>(wait));
  }
}

Tensor HttpOracle::ask(const Tensor& inputs, bool want_scores) {
  const int64_t n = inputs.size(0);
  SIGNET_CHECK(Shape(inputs.shape().begin() + 1, inputs.shape().end()) == input_shape_,
               "{} takes inputs of shape {}, the queries are {}", opt_.endpoint, shape_str(input_shape_),
               shape_str(inputs.shape()));
  SIGNET_CHECK(opt_.max_queries == 0 || queries() + n <= opt_.max_queries,
               "verifying needs {} more queries of {}, which would pass --max-queries {} ({} asked so far)", n,
               opt_.endpoint, opt_.max_queries, queries());
  std::vector<Tensor> labels, scores;
  for (int64_t at = 0; at < n; at += max_batch_) {
    const int64_t m = std::min(max_batch_, n - at);
    const Tensor chunk = inputs.narrow_view(0, at, m).contiguous();
    PredictAnswer a;
    if (m <= opt_.json_max_inputs) {
      const Reply r = send("POST", "/v1/predict", encode_json_request(chunk, want_scores), kJsonType);
      a = decode_json_answer(r.body, m, want_scores, opt_.endpoint);
    } else {
      const Reply r = send("POST", want_scores ? "/v1/predict?answer=scores" : "/v1/predict",
                           encode_binary_request(chunk), kBinaryType);
      a = decode_binary_answer(r.body, m, want_scores, opt_.endpoint);
    }
    for (int64_t i = 0; i < m; ++i)
      SIGNET_CHECK(a.labels.i64()[i] >= 0 && a.labels.i64()[i] < num_classes_,
                   "{} answered label {}, outside its {} classes", opt_.endpoint, a.labels.i64()[i], num_classes_);
    labels.push_back(a.labels);
    if (want_scores) scores.push_back(a.scores);
  }
  if (n == 0) return want_scores ? Tensor::empty({0, num_classes_}) : Tensor::empty({0}, DType::I64);
  const std::vector<Tensor>& out = want_scores ? scores : labels;
  return out.size() == 1 ? out[0] : concat(out, 0).contiguous();
}

Tensor HttpOracle::answer(const Tensor& inputs) { return ask(inputs, false); }

Tensor HttpOracle::answer_scores(const Tensor& inputs) { return ask(inputs, true); }

}  // namespace signet::serve
