// Who may ask, and how much: bearer-token authentication, a per-client query budget and a
// per-client rate limit. A client is its remote address (the key, when there is one, is
// shared, so it cannot tell clients apart). Quantities are inputs (queries), not requests: a
// batch of 64 costs 64, as it does a verifier.
//
// The token is compared in constant time (SHA-256 of both sides, then sodium_memcmp), so
// neither its contents nor its length leak through timing.
// The rate limit is a token bucket: `rate` inputs per second, holding up to `burst`.
#pragma once
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace signet::serve {

class ClientGate {
 public:
  ClientGate(const std::string& api_key, int64_t budget, double rate, double burst);

  bool needs_key() const { return has_key_; }
  // The Authorization header's value; true when no key is set.
  bool authorized(const std::string& authorization) const;

  enum class Verdict { Admitted, OverBudget, RateLimited };
  struct Admission {
    Verdict verdict = Verdict::Admitted;
    double retry_after_s = 0;  // RateLimited: when the bucket will hold enough
    int64_t remaining = -1;    // budget left after this request (-1: unlimited)
  };
  // Charges `inputs` to the client when admitted; nothing otherwise.
  Admission admit(const std::string& client, int64_t inputs);

 private:
  struct Account {
    int64_t used = 0;
    double tokens = 0;
    std::chrono::steady_clock::time_point refilled;
  };
  bool has_key_;
  unsigned char key_digest_[32];
  int64_t budget_;
  double rate_, burst_;
  std::mutex mu_;
  std::map<std::string, Account> accounts_;
};

}  // namespace signet::serve

namespace signet::serve {
// The API key in a file (--api-key-file): its first line, surrounding whitespace dropped.
// Error when the file cannot be read or holds no key.
std::string read_api_key_file(const std::string& path);
}  // namespace signet::serve
