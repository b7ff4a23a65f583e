// What the owner of a model API sets: what it answers, how much it answers, and to whom.
// These are also the attacked-service scenarios of the robustness papers (rounded or noisy
// scores, noisy queries, a query budget), so a verifier can be tested against them over HTTP.
#pragma once
#include <cstdint>
#include <string>

namespace signet::serve {

struct ServeOptions {
  std::string bind = "127.0.0.1";
  int port = 0;                      // 0: a free port chosen by the OS
  bool answer_scores = false;        // --answer scores: class scores as well as labels
  int64_t max_batch = 256;           // inputs in one request (413 beyond)
  int64_t batch_size = 64;           // inputs in one model call, gathered across clients
  int64_t batch_wait_us = 2000;      // how long the batcher waits for more requests to fill a call
  int64_t max_pending = 4096;        // inputs waiting for the model before new requests get 503
  uint64_t max_body_bytes = 16u << 20;  // request body limit (413 beyond)
  int64_t query_budget = 0;          // inputs one client may ask in all (0: unlimited); 403 beyond
  double rate_limit = 0;             // inputs per second per client (0: unlimited); 429 beyond
  std::string api_key;               // empty: no authentication; else "Authorization: Bearer <key>"
  int read_timeout_s = 10;           // a client that sends nothing for this long is dropped
  int write_timeout_s = 10;
  int keep_alive_s = 5;              // idle keep-alive connections are closed after this
  int http_threads = 96;             // connections served at once (each keep-alive client holds one)
  bool access_log = true;            // one JSON line per request on stderr
};

}  // namespace signet::serve
