// `signet serve`'s HTTP handling end to end: the raw bytes of one connection (request line,
// headers, body; several pipelined requests if the input holds them) go over loopback to a
// ModelServer running in this process, so its routing, authentication, limits, body decoding
// and batching run under the sanitizers. The server is started once; each input is one
// connection, read until one whole answer has come; a request still unanswered after
// kIncompleteMs is ended by shutting the write side, and the server must then close. No answer
// and no close within kAnswerSeconds is a finding (a hang). Accepted: an answer 200.
// SIGNET_FUZZ_HTTP_ECHO=1 prints the start of each answer (to see what a seed reaches).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <thread>

#include "engine/rng.h"
#include "serve/model_server.h"
#include "tests/fuzz/fuzz_target.h"
#include "watermark/verify/oracle.h"

namespace signet::fuzz {
namespace {

constexpr int kAnswerSeconds = 10;
constexpr int kIncompleteMs = 100;  // no answer by then: the request is taken as incomplete
constexpr int kIdleMs = 50;         // a pause this long ends an answer whose length is unknown

// True once `answer` holds a whole response: headers and Content-Length bytes of body.
bool complete_answer(const std::string& answer) {
  const size_t end = answer.find("\r\n\r\n");
  if (end == std::string::npos) return false;
  const std::string head = answer.substr(0, end);
  const size_t cl = head.find("Content-Length: ");
  if (cl == std::string::npos) return false;
  const long long len = std::atoll(head.c_str() + cl + 16);
  return len >= 0 && answer.size() - (end + 4) >= static_cast<size_t>(len);
}

// The server of every input: a small untrained MLP on 1x4x4 inputs, scores allowed, a bearer
// token (the seeds carry it, so mutations reach the routes behind it), small limits.
struct Server {
  std::unique_ptr<serve::ModelServer> server;
  std::thread thread;
  int port = 0;
  Server() {
    Rng rng(7);
    ModelConfig cfg;
    cfg.input_shape = {1, 4, 4};
    auto oracle = std::make_shared<LocalModelOracle>(build_model("mnist-mlp", cfg, rng), Normalization{}, "fuzz");
    serve::ServeOptions opt;
    opt.bind = "127.0.0.1";
    opt.port = 0;
    opt.access_log = false;
    opt.answer_scores = true;
    opt.api_key = "fuzz-key";
    opt.max_batch = 8;
    opt.max_body_bytes = 1 << 16;
    opt.read_timeout_s = opt.write_timeout_s = 2;
    opt.http_threads = 4;
    serve::ServedModel m{std::move(oracle), "mnist-mlp", {1, 4, 4}, 10, "0123abcd"};
    server = std::make_unique<serve::ModelServer>(std::move(m), opt);
    port = server->bind();
    thread = std::thread([this] { server->run(); });
  }
  ~Server() {
    server->stop();
    thread.join();
  }
};

Server& the_server() {
  static Server s;
  return s;
}

}  // namespace

bool fuzz_http(const std::string& input) {
  const int port = the_server().port;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    throw Error("the fuzzed server no longer accepts connections");
  }
  // The server may answer and close before reading everything: a failed send is not a finding.
  for (size_t sent = 0; sent < input.size();) {
    const ssize_t n = ::send(fd, input.data() + sent, input.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  std::string answer;
  const auto start = std::chrono::steady_clock::now();
  const auto hang = start + std::chrono::seconds(kAnswerSeconds);
  bool write_shut = false;
  char buf[4096];
  for (;;) {
    if (complete_answer(answer)) break;
    const auto now = std::chrono::steady_clock::now();
    if (now >= hang) {
      // A server that neither answers nor closes a finished connection is hung.
      std::fprintf(stderr, "fuzz_http: no answer and no close within %d s\n", kAnswerSeconds);
      std::abort();
    }
    // Nothing yet after a while: the request is incomplete. End it (cpp-httplib then closes the
    // connection without answering) rather than wait for the server's read timeout.
    const int wait_ms = answer.empty() && !write_shut ? kIncompleteMs : kIdleMs;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, wait_ms) <= 0) {
      if (!answer.empty()) break;  // a pause inside an answer without Content-Length: enough
      if (!write_shut) ::shutdown(fd, SHUT_WR), write_shut = true;
      continue;
    }
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;  // closed (or reset): the connection is over
    answer.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  if (std::getenv("SIGNET_FUZZ_HTTP_ECHO")) std::fprintf(stderr, "%s\n---\n", answer.substr(0, 300).c_str());
  return answer.rfind("HTTP/1.1 200", 0) == 0;
}

}  // namespace signet::fuzz

SIGNET_FUZZ_ENTRY(signet::fuzz::fuzz_http)
