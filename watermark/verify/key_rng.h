// Where key material comes from. Keys are secrets: by default every key generator draws from an
// Rng whose whole 256-bit state comes from the operating system's CSPRNG (libsodium's
// randombytes_buf), independent of the training seed and of anything written into a model file.
//
// For reproducible experiments only, a key seed N replaces the CSPRNG: the state is then
// SHA-256("signet-key-seed-v1" || N || domain), where the domain names the scheme, model, layer
// and variant, so that no two key sets of one experiment grid coincide. Anyone who knows N and
// the domain can regenerate such keys: `signet embed --key-seed` warns, and the keys file records
// signet.key_source = "key-seed" and the seed.
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "engine/rng.h"

namespace signet {

struct KeyRandomness {
  std::optional<uint64_t> key_seed;  // empty: the OS CSPRNG
  std::string domain;                // what the keys are for (key seed and job secret)
  // Data-parallel embedding: every rank must generate the same keys, so rank 0 draws 32 bytes
  // from the OS CSPRNG and sends them to the other ranks (over MPI, never to a file); each key
  // set's state is then SHA-256("signet-key-job-v1" || secret || domain). The keys are as secret
  // as CSPRNG keys and recorded as such.
  std::optional<std::array<unsigned char, 32>> job_secret;

  // The generator of one key set (key sets of one embedding differ by domain: under()).
  Rng make() const;
  // A copy whose domain is extended by `part` (e.g. the layer).
  KeyRandomness under(const std::string& part) const;
  // signet.key_source (and signet.key_seed) for the keys file.
  void record(std::map<std::string, std::string>& meta) const;
};

// 32 bytes from the OS CSPRNG (initialises libsodium; Error when it cannot).
void os_random_bytes(void* out, size_t n);

}  // namespace signet
