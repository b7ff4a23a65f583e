// signet_serve_load: a bounded load test of `signet serve` on loopback. For single-image (JSON)
// and batch-64 (safetensors) requests with 1, 8 and 64 concurrent keep-alive clients it reports
// requests/s, inputs/s and p50/p99 latency, beside the same predictions made in-process (one
// thread, no HTTP): the difference is the HTTP and batching overhead. Every answer is checked
// against the in-process labels of the same inputs (no request may be lost or answered wrongly),
// and the server's resident memory (VmRSS of --server-pid) is sampled around each run.
//
//   signet_serve_load --endpoint http://127.0.0.1:PORT --weights M.safetensors [--seconds 5]
//                     [--server-pid PID] [--batches 1,64] [--clients 1,8,64]
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "engine/rng.h"
#include "serve/predict_codec.h"
#include "watermark/verify/oracle.h"

namespace {
using namespace signet;
using Clock = std::chrono::steady_clock;

struct Run {
  std::string mode;
  int64_t batch = 0, clients = 0, requests = 0, failed = 0, wrong = 0;
  double seconds = 0, p50_ms = 0, p99_ms = 0;
  long rss_before_kb = -1, rss_after_kb = -1;
};

long rss_kb(int pid) {
  if (pid <= 0) return -1;
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

Run in_process(LocalModelOracle& oracle, const Tensor& pool, int64_t batch, double seconds) {
  Run r{"in-process", batch, 1};
  std::vector<double> lat;
  const auto t0 = Clock::now();
  int64_t at = 0;
  while (std::chrono::duration<double>(Clock::now() - t0).count() < seconds) {
    const Tensor x = pool.narrow_view(0, at, batch).contiguous();
    const auto s = Clock::now();
    oracle.labels(x);
    lat.push_back(std::chrono::duration<double, std::milli>(Clock::now() - s).count());
    at = (at + batch) % (pool.size(0) - batch);
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  r.requests = static_cast<int64_t>(lat.size());
  r.p50_ms = percentile(lat, 0.5);
  r.p99_ms = percentile(lat, 0.99);
  return r;
}

Run over_http(const std::string& endpoint, const Tensor& pool, const std::vector<int64_t>& expected, int64_t batch,
              int64_t clients, double seconds, int server_pid) {
  Run r{"http", batch, clients};
  r.rss_before_kb = rss_kb(server_pid);
  std::vector<std::vector<double>> lat(static_cast<size_t>(clients));
  std::atomic<int64_t> failed{0}, wrong{0};
  const auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int64_t c = 0; c < clients; ++c)
    threads.emplace_back([&, c] {
      httplib::Client cli(endpoint);
      cli.set_keep_alive(true);
      cli.set_tcp_nodelay(true);  // headers and body go in two writes: Nagle would hold the body ~40 ms
      cli.set_connection_timeout(10);
      cli.set_read_timeout(30);
      Rng rng(static_cast<uint64_t>(c) + 1);
      while (std::chrono::duration<double>(Clock::now() - t0).count() < seconds) {
        const int64_t at = static_cast<int64_t>(rng.below(static_cast<uint64_t>(pool.size(0) - batch)));
        const Tensor x = pool.narrow_view(0, at, batch).contiguous();
        const bool json = batch == 1;
        const std::string body = json ? serve::encode_json_request(x, false) : serve::encode_binary_request(x);
        const auto s = Clock::now();
        auto res = cli.Post("/v1/predict", body, json ? serve::kJsonType : serve::kBinaryType);
        lat[static_cast<size_t>(c)].push_back(std::chrono::duration<double, std::milli>(Clock::now() - s).count());
        if (!res || res->status != 200) {
          if (failed++ == 0)
            std::fprintf(stderr, "first failure (batch %lld, %lld clients): %s\n", static_cast<long long>(batch),
                         static_cast<long long>(clients),
                         res ? fmt::format("HTTP {} {}", res->status, res->body).c_str()
                             : httplib::to_string(res.error()).c_str());
          continue;
        }
        try {
          const serve::PredictAnswer a = json ? serve::decode_json_answer(res->body, batch, false, endpoint)
                                              : serve::decode_binary_answer(res->body, batch, false, endpoint);
          for (int64_t i = 0; i < batch; ++i)
            if (a.labels.i64()[i] != expected[static_cast<size_t>(at + i)]) {
              ++wrong;
              break;
            }
        } catch (const Error&) {
          ++wrong;
        }
      }
    });
  for (auto& t : threads) t.join();
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  std::vector<double> all;
  for (const auto& l : lat) all.insert(all.end(), l.begin(), l.end());
  r.requests = static_cast<int64_t>(all.size());
  r.failed = failed;
  r.wrong = wrong;
  r.p50_ms = percentile(all, 0.5);
  r.p99_ms = percentile(all, 0.99);
  r.rss_after_kb = rss_kb(server_pid);
  return r;
}

void print(const Run& r) {
  std::printf("| %-10s | %5lld | %7lld | %8lld | %9.1f | %9.0f | %8.2f | %8.2f | %6lld | %5lld | %s |\n", r.mode.c_str(),
              static_cast<long long>(r.batch), static_cast<long long>(r.clients), static_cast<long long>(r.requests),
              static_cast<double>(r.requests) / r.seconds,
              static_cast<double>(r.requests * r.batch) / r.seconds, r.p50_ms, r.p99_ms,
              static_cast<long long>(r.failed), static_cast<long long>(r.wrong),
              r.rss_before_kb < 0 ? "-" : fmt::format("{} -> {}", r.rss_before_kb / 1024, r.rss_after_kb / 1024).c_str());
  std::fflush(stdout);
}
}  // namespace

int main(int argc, char** argv) {
  std::string endpoint, weights;
  double seconds = 5;
  int server_pid = 0;
  std::vector<int64_t> batches = {1, 64}, client_counts = {1, 8, 64};
  auto list = [](const std::string& v) {
    std::vector<int64_t> out;
    for (size_t at = 0; at < v.size();) {
      const size_t comma = std::min(v.find(',', at), v.size());
      out.push_back(std::stoll(v.substr(at, comma - at)));
      at = comma + 1;
    }
    return out;
  };
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--endpoint") endpoint = v;
    else if (k == "--weights") weights = v;
    else if (k == "--seconds") seconds = std::stod(v);
    else if (k == "--server-pid") server_pid = std::stoi(v);
    else if (k == "--batches") batches = list(v);
    else if (k == "--clients") client_counts = list(v);
    else {
      std::fprintf(stderr, "unknown flag %s\n", k.c_str());
      return 2;
    }
  }
  if (endpoint.empty() || weights.empty() || seconds <= 0 || seconds > 60) {
    std::fprintf(stderr, "usage: signet_serve_load --endpoint URL --weights M.safetensors [--seconds 0-60] "
                         "[--server-pid PID]\n");
    return 2;
  }
  try {
    LocalModelOracle oracle(weights, Normalization{});
    Shape shape = {512};
    const Shape in = oracle.model().config.input_shape;
    shape.insert(shape.end(), in.begin(), in.end());
    Tensor pool = Tensor::empty(shape);
    Rng rng(11);
    for (int64_t i = 0; i < pool.numel(); ++i) pool.f32()[i] = static_cast<float>(rng.uniform());
    const std::vector<int64_t> expected = oracle.labels(pool).to_vector_i64();
    std::printf("| mode       | batch | clients | requests |  req/s    | inputs/s  | p50 ms   | p99 ms   | failed | wrong | server RSS MiB |\n");
    std::printf("|------------|-------|---------|----------|-----------|-----------|----------|----------|--------|-------|----------------|\n");
    const long rss_start = rss_kb(server_pid);
    for (int64_t batch : batches) {
      if (batch < 1 || batch > 256) throw Error("--batches: 1 to 256 inputs per request");
      print(in_process(oracle, pool, batch, seconds));
      for (int64_t clients : client_counts) print(over_http(endpoint, pool, expected, batch, clients, seconds, server_pid));
    }
    if (server_pid > 0) {
      // Memory must reach a plateau, not grow with the requests served: six more of the
      // heaviest run (batch 64, 64 clients), the server's RSS after each.
      std::printf("\nserver RSS: %ld MiB at the start, %ld MiB after the table", rss_start / 1024,
                  rss_kb(server_pid) / 1024);
      int64_t more = 0;
      for (int i = 0; i < 6; ++i) {
        const Run r = over_http(endpoint, pool, expected, 64, 64, seconds, server_pid);
        more += r.requests;
        std::printf(", %ld MiB (%lld requests, %lld failed, %lld wrong)", r.rss_after_kb / 1024,
                    static_cast<long long>(r.requests), static_cast<long long>(r.failed),
                    static_cast<long long>(r.wrong));
      }
      std::printf(" after 6 more runs of batch 64 x 64 clients\n");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "signet_serve_load: %s\n", e.what());
    return 1;
  }
  return 0;
}
