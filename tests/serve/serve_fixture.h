// Test helpers for the model server: a small model served in-process on a loopback port the OS
// picks, and a raw TCP client for requests no well-behaved HTTP library would send.
#pragma once
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "engine/rng.h"
#include "serve/model_server.h"
#include "watermark/verify/oracle.h"

namespace signet::testing {

// An untrained mnist-mlp (1x28x28 inputs, 10 classes), queried as a black box.
inline std::shared_ptr<LocalModelOracle> small_model_oracle(uint64_t seed = 7) {
  Rng rng(seed);
  return std::make_shared<LocalModelOracle>(build_model("mnist-mlp", ModelConfig{}, rng), Normalization{},
                                            "test mnist-mlp");
}

// Inputs in [0, 1], [n, 1, 28, 28].
inline Tensor random_inputs(int64_t n, uint64_t seed = 3) {
  Rng rng(seed);
  Tensor x = Tensor::empty({n, 1, 28, 28});
  for (int64_t i = 0; i < x.numel(); ++i) x.f32()[i] = static_cast<float>(rng.uniform());
  return x;
}

// A ModelServer running on its own thread; stopped and joined on destruction.
class RunningServer {
 public:
  RunningServer(std::shared_ptr<Oracle> oracle, serve::ServeOptions opt) {
    opt.bind = "127.0.0.1";
    opt.port = 0;
    opt.access_log = false;
    serve::ServedModel m{std::move(oracle), "mnist-mlp", {1, 28, 28}, 10, "0123abcd"};
    server_ = std::make_unique<serve::ModelServer>(std::move(m), opt);
    port_ = server_->bind();
    thread_ = std::thread([this] { server_->run(); });
  }
  ~RunningServer() { stop(); }
  void stop() {
    if (!thread_.joinable()) return;
    server_->stop();
    thread_.join();
  }
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  serve::ModelServer& server() { return *server_; }

 private:
  std::unique_ptr<serve::ModelServer> server_;
  std::thread thread_;
  int port_ = 0;
};

// A blocking TCP connection to 127.0.0.1:port with bounded waits.
class RawClient {
 public:
  explicit RawClient(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~RawClient() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool connected() const { return connected_; }
  bool send(const std::string& bytes) {
    size_t at = 0;
    while (at < bytes.size()) {
      const ssize_t n = ::send(fd_, bytes.data() + at, bytes.size() - at, MSG_NOSIGNAL);
      if (n <= 0) return false;
      at += static_cast<size_t>(n);
    }
    return true;
  }
  void shutdown_write() { ::shutdown(fd_, SHUT_WR); }
  // Everything until the peer closes or `timeout_s` passes; closed() says which.
  std::string read_all(double timeout_s) {
    std::string out;
    const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    char buf[4096];
    while (std::chrono::steady_clock::now() < until) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        closed_ = true;
        break;
      }
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }
  // Reads until the response headers and Content-Length bytes of body arrived (or timeout).
  std::string read_response(double timeout_s) {
    std::string out;
    const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    char buf[4096];
    while (std::chrono::steady_clock::now() < until) {
      const size_t head = out.find("\r\n\r\n");
      if (head != std::string::npos) {
        const size_t cl = out.find("Content-Length: ");
        const size_t len = cl == std::string::npos ? 0 : std::stoul(out.substr(cl + 16));
        if (out.size() >= head + 4 + len) break;
      }
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        closed_ = true;
        break;
      }
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }
  bool closed() const { return closed_; }

 private:
  int fd_ = -1;
  bool connected_ = false, closed_ = false;
};

// The status code of a raw HTTP response ("HTTP/1.1 200 OK..." -> 200; 0 when none).
inline int status_of(const std::string& response) {
  if (response.size() < 12 || response.compare(0, 5, "HTTP/") != 0) return 0;
  return std::stoi(response.substr(9, 3));
}

}  // namespace signet::testing
