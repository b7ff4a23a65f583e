#include "watermark/verify/key_rng.h"

#include <sodium.h>

#include <array>
#include <cstring>
#include <map>

#include "engine/error.h"

namespace signet {

void os_random_bytes(void* out, size_t n) {
  SIGNET_CHECK(sodium_init() >= 0, "libsodium could not be initialised: no secure random numbers for keys");
  randombytes_buf(out, n);
}

Rng KeyRandomness::make() const {
  std::array<uint64_t, 4> state{};
  if (key_seed) {
    SIGNET_CHECK(sodium_init() >= 0, "libsodium could not be initialised");
    const std::string tag = "signet-key-seed-v1";
    // The trailing NUL is part of the format: keys made with a key seed stay reproducible.
    const std::string msg = tag + '\0' + std::to_string(*key_seed) + '\0' + domain + '\0';
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(msg.data()), msg.size());
    std::memcpy(state.data(), digest, sizeof(digest));
  } else if (job_secret) {
    SIGNET_CHECK(sodium_init() >= 0, "libsodium could not be initialised");
    const std::string tag = "signet-key-job-v1";
    std::string msg = tag + '\0';
    msg.append(reinterpret_cast<const char*>(job_secret->data()), job_secret->size());
    msg += '\0' + domain + '\0';
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(msg.data()), msg.size());
    std::memcpy(state.data(), digest, sizeof(digest));
    sodium_memzero(digest, sizeof(digest));
  } else {
    os_random_bytes(state.data(), sizeof(state));
  }
  // xoshiro's one forbidden state (all zero) has probability 2^-256; guard it anyway.
  if (state[0] == 0 && state[1] == 0 && state[2] == 0 && state[3] == 0) state[0] = 1;
  Rng rng;
  rng.set_state(state);
  return rng;
}

KeyRandomness KeyRandomness::under(const std::string& part) const {
  KeyRandomness k = *this;
  k.domain += "/" + part;
  return k;
}

void KeyRandomness::record(std::map<std::string, std::string>& meta) const {
  if (key_seed) {
    meta["signet.key_source"] = "key-seed";
    meta["signet.key_seed"] = std::to_string(*key_seed);
    meta["signet.key_domain"] = domain;
  } else {
    meta["signet.key_source"] = "os-csprng";
    meta.erase("signet.key_seed");
    meta.erase("signet.key_domain");
  }
}

}  // namespace signet
