#include "serve/client_gate.h"

#include <sodium.h>

#include <algorithm>
#include <cmath>

#include "engine/error.h"

namespace signet::serve {

namespace {
void digest(const std::string& s, unsigned char out[32]) {
  crypto_hash_sha256(out, reinterpret_cast<const unsigned char*>(s.data()), s.size());
}
}  // namespace

ClientGate::ClientGate(const std::string& api_key, int64_t budget, double rate, double burst)
    : has_key_(!api_key.empty()), budget_(budget), rate_(rate), burst_(burst) {
  SIGNET_CHECK(sodium_init() >= 0, "libsodium could not be initialised");
  SIGNET_CHECK(budget_ >= 0, "the query budget must be >= 0 (0: unlimited), got {}", budget_);
  SIGNET_CHECK(std::isfinite(rate_) && rate_ >= 0, "the rate limit must be >= 0 (0: unlimited), got {}", rate_);
  SIGNET_CHECK(rate_ == 0 || burst_ >= 1, "the rate limit's burst must be >= 1, got {}", burst_);
  digest(api_key, key_digest_);
}

bool ClientGate::authorized(const std::string& authorization) const {
  if (!has_key_) return true;
  static const std::string kBearer = "Bearer ";
  const bool bearer = authorization.size() > kBearer.size() && authorization.compare(0, kBearer.size(), kBearer) == 0;
  unsigned char given[32];
  digest(bearer ? authorization.substr(kBearer.size()) : std::string(), given);
  return sodium_memcmp(given, key_digest_, sizeof given) == 0 && bearer;
}

ClientGate::Admission ClientGate::admit(const std::string& client, int64_t inputs) {
  std::lock_guard<std::mutex> lock(mu_);
  const auto now = std::chrono::steady_clock::now();
  auto [it, fresh] = accounts_.try_emplace(client);
  Account& a = it->second;
  if (fresh) {
    a.tokens = burst_;
    a.refilled = now;
  }
  Admission out;
  if (budget_ > 0 && a.used + inputs > budget_) {
    out.verdict = Verdict::OverBudget;
    out.remaining = budget_ - a.used;
    return out;
  }
  if (rate_ > 0) {
    a.tokens = std::min(burst_, a.tokens + rate_ * std::chrono::duration<double>(now - a.refilled).count());
    a.refilled = now;
    // A request larger than the bucket is let through when the bucket is full, so no batch the
    // server accepts can be refused for ever.
    const double need = std::min(static_cast<double>(inputs), burst_);
    if (a.tokens < need) {
      out.verdict = Verdict::RateLimited;
      out.retry_after_s = (need - a.tokens) / rate_;
      return out;
    }
    a.tokens -= static_cast<double>(inputs);
  }
  a.used += inputs;
  out.remaining = budget_ > 0 ? budget_ - a.used : -1;
  return out;
}

}  // namespace signet::serve

#include "engine/serialize/atomic_file.h"
#include "engine/serialize/file_read.h"

namespace signet::serve {
std::string read_api_key_file(const std::string& path) {
  std::string key = read_file(path, file_kind::kSmallJson);
  key = key.substr(0, key.find('\n'));
  const auto first = key.find_first_not_of(" \t\r");
  key = first == std::string::npos ? "" : key.substr(first, key.find_last_not_of(" \t\r") - first + 1);
  SIGNET_CHECK(!key.empty(), "{}: the API key file holds no key (write the key on its first line)", path);
  return key;
}
}  // namespace signet::serve
