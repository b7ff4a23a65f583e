// Seeded random number generator: xoshiro256++ (Blackman & Vigna), seeded through splitmix64.
// One generator per run; every random choice (init, shuffle, dropout, keys) draws from it, so a
// result is reproducible from its seed. The whole state is four words, so a checkpoint can
// save and restore it exactly.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

namespace signet {

class Rng {
 public:
  explicit Rng(uint64_t seed = 0) { seed_with(seed); }
  void seed_with(uint64_t seed);

  uint64_t next_u64();
  double uniform();                          // [0, 1), 53 random bits
  float uniform(float lo, float hi);         // [lo, hi)
  double normal();                           // N(0, 1), Box-Muller (no cached second value)
  uint64_t below(uint64_t n);                // uniform integer in [0, n), unbiased
  void shuffle(std::vector<int64_t>& v);     // Fisher-Yates
  Rng fork();                                // an independent stream drawn from this one

  std::array<uint64_t, 4> state() const { return s_; }
  void set_state(const std::array<uint64_t, 4>& s) { s_ = s; }

 private:
  std::array<uint64_t, 4> s_{};
};

}  // namespace signet
