#include "serve/model_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <thread>
#include <nlohmann/json.hpp>

#include "serve/client_gate.h"
#include "serve/inference_batcher.h"
#include "serve/predict_codec.h"

namespace signet::serve {

namespace {
using nlohmann::json;
using Clock = std::chrono::steady_clock;

// What the access log needs to know about the request this thread is answering.
struct RequestTrace {
  Clock::time_point start = Clock::now();
  int64_t inputs = 0;
  std::string error;
};
thread_local RequestTrace trace;

void fail(httplib::Response& res, int status, const std::string& message) {
  res.status = status;
  trace.error = message;
  // Messages may quote the client's path: bytes that are not UTF-8 become U+FFFD.
  res.set_content(json{{"error", message}, {"status", status}}.dump(-1, ' ', false, json::error_handler_t::replace),
                  kJsonType);
}

std::string media_type(const std::string& content_type) {
  std::string t = content_type.substr(0, content_type.find(';'));
  while (!t.empty() && t.back() == ' ') t.pop_back();
  for (char& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return t;
}

std::string utc_now() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03d}Z", buf, static_cast<int>(ms));
}
}  // namespace

struct ModelServer::Impl {
  Impl(ServedModel m, ServeOptions o)
      : model(std::move(m)),
        opt(std::move(o)),
        batcher(model.oracle, opt.batch_size, opt.batch_wait_us, opt.max_pending),
        gate(opt.api_key, opt.query_budget, opt.rate_limit,
             std::max(opt.rate_limit, static_cast<double>(std::min<int64_t>(opt.max_batch, 64)))) {}

  ServedModel model;
  ServeOptions opt;
  InferenceBatcher batcher;
  ClientGate gate;
  httplib::Server http;
  int port = -1;
  int listen_fd = -1;
  std::atomic<bool> stop_requested{false};
  std::mutex log_mu;

  json model_json() const {
    std::vector<int64_t> classes;
    for (int64_t c = 0; c < model.num_classes; ++c) classes.push_back(c);
    return {{"model", model.name}, {"input_shape", model.input_shape}, {"num_classes", model.num_classes},
            {"classes", classes}, {"answer", opt.answer_scores ? "scores" : "labels"},
            {"weights_sha256", model.weights_sha256},
            {"limits", {{"max_batch", opt.max_batch}, {"max_body_bytes", opt.max_body_bytes},
                        {"query_budget", opt.query_budget}, {"rate_limit", opt.rate_limit}}},
            {"auth", gate.needs_key() ? "bearer" : "none"}};
  }

  bool authorized(const httplib::Request& req, httplib::Response& res) {
    if (gate.authorized(req.get_header_value("Authorization"))) return true;
    res.set_header("WWW-Authenticate", "Bearer");
    fail(res, 401, req.has_header("Authorization") ? "the bearer token is wrong"
                                                   : "this server needs \"Authorization: Bearer <api key>\"");
    return false;
  }

  // Tells the batcher a request is on its way until it is queued or given up.
  struct Arrival {
    InferenceBatcher& batcher;
    bool pending = true;
    explicit Arrival(InferenceBatcher& b) : batcher(b) { batcher.arriving(+1); }
    ~Arrival() {
      if (pending) batcher.arriving(-1);
    }
  };

  void predict(const httplib::Request& req, httplib::Response& res) {
    Arrival arrival(batcher);
    if (!authorized(req, res)) return;
    const std::string type = media_type(req.get_header_value("Content-Type"));
    const bool binary = type == kBinaryType || type == "application/x-safetensors";
    try {
      PredictRequest r;
      if (type == kJsonType) {
        if (req.has_param("answer")) throw RequestError(400, "JSON requests give \"answer\" in the body");
        r = decode_json_request(req.body, model.input_shape, opt.max_batch);
      } else if (binary) {
        const std::string answer = req.get_param_value("answer");
        if (!answer.empty() && answer != "labels" && answer != "scores")
          throw RequestError(400, "?answer= must be labels or scores");
        r = decode_binary_request(req.body, model.input_shape, opt.max_batch, answer == "scores");
      } else {
        throw RequestError(415, fmt::format("Content-Type \"{}\" is not accepted: send application/json or "
                                            "application/octet-stream (a safetensors blob with tensor \"input\")",
                                            type));
      }
      const int64_t n = r.inputs.size(0);
      trace.inputs = n;
      if (r.want_scores && !opt.answer_scores)
        throw RequestError(403, "this server answers labels only, not class scores");
      const ClientGate::Admission adm = gate.admit(req.remote_addr, n);
      if (adm.verdict == ClientGate::Verdict::OverBudget)
        throw RequestError(403, fmt::format("the query budget of {} inputs per client is spent ({} left, {} asked)",
                                            opt.query_budget, adm.remaining, n));
      if (adm.verdict == ClientGate::Verdict::RateLimited) {
        res.set_header("Retry-After", std::to_string(static_cast<int64_t>(std::ceil(adm.retry_after_s))));
        throw RequestError(429, fmt::format("rate limited: at most {} inputs per second per client", opt.rate_limit));
      }
      if (adm.remaining >= 0) res.set_header("X-Queries-Remaining", std::to_string(adm.remaining));
      arrival.pending = false;  // predict() takes the announcement back, whatever it throws
      const PredictAnswer a = batcher.predict(r.inputs, r.want_scores, true);
      if (binary) {
        res.set_content(encode_binary_answer(a), kBinaryType);
      } else {
        res.set_content(encode_json_answer(a), kJsonType);
      }
    } catch (const RequestError& e) {
      fail(res, e.status, e.what());
    } catch (const Busy& e) {
      res.set_header("Retry-After", "1");
      fail(res, 503, e.what());
    } catch (const Error& e) {
      fail(res, 500, fmt::format("the model could not answer: {}", e.what()));
    }
  }

  void log(const httplib::Request& req, const httplib::Response& res) {
    if (!opt.access_log) return;
    json j = {{"time", utc_now()}, {"client", fmt::format("{}:{}", req.remote_addr, req.remote_port)},
              {"method", req.method}, {"path", req.path}, {"status", res.status}, {"inputs", trace.inputs},
              {"bytes_in", req.body.size()}, {"bytes_out", res.body.size()},
              {"ms", std::chrono::duration<double, std::milli>(Clock::now() - trace.start).count()}};
    if (!trace.error.empty()) j["error"] = trace.error;
    // The path is the client's: bytes that are not UTF-8 are logged as U+FFFD, never thrown on
    // (an exception here, on httplib's thread, would end the server).
    const std::string line = j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
    // Requests httplib rejects itself never reach the pre-routing handler: start them clean.
    trace = RequestTrace{};
    std::lock_guard<std::mutex> lock(log_mu);
    std::fwrite(line.data(), 1, line.size(), stderr);
  }

  void routes() {
    const int threads = opt.http_threads;
    http.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
    http.set_payload_max_length(opt.max_body_bytes);
    http.set_read_timeout(opt.read_timeout_s);
    http.set_write_timeout(opt.write_timeout_s);
    http.set_keep_alive_timeout(opt.keep_alive_s);
    http.set_keep_alive_max_count(100000);
    http.set_tcp_nodelay(true);
    // httplib listens with a backlog of 5: the socket is kept so bind() can raise it (below).
    http.set_socket_options([this](int sock) {
      const int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
      listen_fd = sock;
    });
    http.set_pre_routing_handler([](const httplib::Request&, httplib::Response&) {
      trace = RequestTrace{};
      return httplib::Server::HandlerResponse::Unhandled;
    });
    http.Post("/v1/predict", [this](const httplib::Request& req, httplib::Response& res) { predict(req, res); });
    http.Get("/v1/model", [this](const httplib::Request& req, httplib::Response& res) {
      if (authorized(req, res)) res.set_content(model_json().dump(), kJsonType);
    });
    http.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"status":"ok"})", kJsonType);
    });
    auto wrong_method = [](const char* allowed) {
      return [allowed](const httplib::Request& req, httplib::Response& res) {
        res.set_header("Allow", allowed);
        fail(res, 405, fmt::format("{} {} is not served; use {}", req.method, req.path, allowed));
      };
    };
    http.Get("/v1/predict", wrong_method("POST"));
    http.Post("/v1/model", wrong_method("GET"));
    http.Post("/healthz", wrong_method("GET"));
    // Errors httplib answers itself (no route, body over the limit, unparsable HTTP) get a JSON body too.
    http.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return;
      if (res.status == 404) {
        fail(res, 404, fmt::format("no such route {} {} (POST /v1/predict, GET /v1/model, GET /healthz)", req.method,
                                   req.path));
      } else if (res.status == 413) {
        fail(res, 413, fmt::format("the body is larger than this server's limit of {} bytes", opt.max_body_bytes));
      } else {
        fail(res, res.status, fmt::format("malformed HTTP request (status {})", res.status));
      }
    });
    http.set_logger([this](const httplib::Request& req, const httplib::Response& res) { log(req, res); });
  }
};

ModelServer::ModelServer(ServedModel model, ServeOptions options) {
  SIGNET_CHECK(model.oracle != nullptr && model.num_classes >= 1 && !model.input_shape.empty(),
               "the server needs a model oracle, its input shape and its classes");
  SIGNET_CHECK(options.max_batch >= 1, "the batch limit must be >= 1, got {}", options.max_batch);
  SIGNET_CHECK(options.http_threads >= 1, "the server needs at least one connection thread");
  SIGNET_CHECK(options.read_timeout_s >= 1 && options.write_timeout_s >= 1 && options.keep_alive_s >= 1,
               "timeouts must be at least 1 s");
  SIGNET_CHECK(!options.answer_scores || model.oracle->has_scores(), "oracle {} has no class scores to answer",
               model.oracle->describe());
  impl_ = std::make_unique<Impl>(std::move(model), std::move(options));
  impl_->routes();
}

ModelServer::~ModelServer() {
  stop();
  impl_->batcher.stop();
}

int ModelServer::bind() {
  Impl& m = *impl_;
  if (m.opt.port == 0) {
    m.port = m.http.bind_to_any_port(m.opt.bind);
  } else {
    m.port = m.http.bind_to_port(m.opt.bind, m.opt.port) ? m.opt.port : -1;
  }
  SIGNET_CHECK(m.port > 0, "cannot listen on {}:{} (address in use, or not an address of this machine)", m.opt.bind,
               m.opt.port);
  // A burst of clients connecting at once would overflow a backlog of 5: their handshakes stall
  // for seconds, or fail. listen() again on a listening socket only changes the backlog.
  if (m.listen_fd >= 0) ::listen(m.listen_fd, SOMAXCONN);
  return m.port;
}

void ModelServer::run() {
  Impl& m = *impl_;
  SIGNET_CHECK(m.port > 0, "bind() the server before run()");
  // httplib ignores a stop() that comes before it is listening: this watcher repeats it (and
  // listening must start even then, or the bound socket would stay open, accepting nothing).
  std::atomic<bool> done{false};
  std::thread watcher([&] {
    while (!done) {
      if (m.stop_requested && m.http.is_running()) m.http.stop();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  m.http.listen_after_bind();  // returns after stop(), every connection done
  done = true;
  watcher.join();
  m.batcher.stop();
}

void ModelServer::stop() {
  impl_->stop_requested = true;
  impl_->http.stop();
}

int ModelServer::port() const { return impl_->port; }

int64_t ModelServer::model_calls() const { return impl_->batcher.model_calls(); }

}  // namespace signet::serve
