// The model API: an HTTP/1.1 server (cpp-httplib) in front of an Oracle.
//
//   POST /v1/predict  a batch of inputs (serve/predict_codec.h) -> labels, and class scores when
//                     the server answers scores and the client asks for them
//   GET  /v1/model    {"model", "input_shape", "num_classes", "classes", "answer", "weights_sha256",
//                      "limits": {...}}
//   GET  /healthz     {"status": "ok"}
// Errors are JSON {"error": "<what was wrong>", "status": <code>}: 400 malformed request, 401
// missing or wrong bearer token, 403 query budget spent, 404/405 no such route, 413 body or
// batch too large, 415 wrong content type, 429 rate limited (Retry-After), 503 overloaded or
// shutting down (Retry-After). With a query budget, answers carry X-Queries-Remaining. Each
// request is one JSON line on stderr (the access log).
//
// stop() may be called from any thread (a signal watcher): the listening socket closes, requests
// already received are answered, then run() returns.
#pragma once
#include <memory>
#include <string>

#include "engine/tensor.h"
#include "serve/serve_options.h"
#include "watermark/verify/oracle.h"

namespace signet::serve {

struct ServedModel {
  std::shared_ptr<Oracle> oracle;  // the model, behind whatever the owner wraps it in
  std::string name;                // architecture, e.g. mnist-mlp
  Shape input_shape;               // without the batch
  int64_t num_classes = 0;
  std::string weights_sha256;
};

class ModelServer {
 public:
  ModelServer(ServedModel model, ServeOptions options);
  ~ModelServer();
  ModelServer(const ModelServer&) = delete;
  ModelServer& operator=(const ModelServer&) = delete;

  // Binds options.bind:options.port (port 0: any free port); returns the port. Error when taken.
  int bind();
  // Serves until stop(); bind() first.
  void run();
  void stop();
  int port() const;
  int64_t model_calls() const;  // model calls the batcher made (requests are gathered into calls)

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace signet::serve
