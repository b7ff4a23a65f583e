// A deployed model queried over HTTP (serve/model_server.h's API) as an Oracle: black-box
// verification of any scheme runs unchanged against a remote service.
//
// The constructor asks GET /v1/model: an unreachable endpoint, or one that does not answer as a
// signet model server, is an Error saying so. expect() compares the service with the keys'
// suspect_config() (input shape, classes). Queries go in chunks of the server's max_batch: JSON
// for a few inputs, a safetensors body for more. 429 and 503 answers are retried with
// exponential backoff (honouring Retry-After, capped), at most max_retries times; other 4xx/5xx
// are Errors quoting the server's message. max_queries > 0 refuses (before sending anything)
// a call that would take the inputs asked past it.
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "models/registry.h"
#include "watermark/verify/oracle.h"

namespace httplib {
class Client;
}

namespace signet::serve {

struct HttpOracleOptions {
  std::string endpoint;      // http://HOST:PORT (https:// works too)
  std::string api_key;       // sent as "Authorization: Bearer <key>" when not empty
  int64_t max_queries = 0;   // 0: no limit
  int max_retries = 6;
  double max_backoff_s = 4;  // the longest wait between two tries
  int timeout_s = 30;        // connect, read and write timeouts
  int64_t json_max_inputs = 8;  // chunks up to this many inputs go as JSON, larger ones as safetensors
};

class HttpOracle final : public Oracle {
 public:
  explicit HttpOracle(HttpOracleOptions options);
  ~HttpOracle() override;

  // Error unless the service takes inputs of `config`'s shape and answers its number of classes.
  void expect(const ModelConfig& config) const;
  std::string describe() const override;
  int64_t num_classes() const override { return num_classes_; }
  bool has_scores() const override { return scores_; }
  const nlohmann::json& model_info() const { return info_; }  // GET /v1/model, as answered
  std::string model_name() const { return info_.value("model", ""); }
  std::string weights_sha256() const { return info_.value("weights_sha256", ""); }
  int64_t retries() const { return retries_; }  // 429/503 answers waited out so far

 protected:
  Tensor answer(const Tensor& inputs) override;
  Tensor answer_scores(const Tensor& inputs) override;

 private:
  struct Reply {
    int status;
    std::string body, content_type;
  };
  // One request, retried on 429/503; Error for anything else that is not 200.
  Reply send(const std::string& method, const std::string& path, const std::string& body,
             const std::string& content_type);
  Tensor ask(const Tensor& inputs, bool want_scores);

  HttpOracleOptions opt_;
  std::unique_ptr<httplib::Client> client_;
  nlohmann::json info_;
  Shape input_shape_;
  int64_t num_classes_ = 0, max_batch_ = 1, retries_ = 0;
  bool scores_ = false;
};

}  // namespace signet::serve
