// Philox-4x32-10 (Salmon et al., SC'11: the generator of cuRAND and of PyTorch's CUDA dropout),
// and dropout's keep decision from it. Usable from kernels and from host code alike: the host
// recomputes any element of a GPU mask (the tests do).
#pragma once
#include <cstdint>

#if defined(__CUDACC__)
#define SIGNET_PHILOX_QUALIFIERS __host__ __device__ __forceinline__
#else
#define SIGNET_PHILOX_QUALIFIERS inline
#endif

namespace signet::cuda_kernels {

struct Philox4 {
  uint32_t w[4];
};

SIGNET_PHILOX_QUALIFIERS uint32_t mul_hi32(uint32_t a, uint32_t b) {
  return static_cast<uint32_t>((static_cast<uint64_t>(a) * b) >> 32);
}

SIGNET_PHILOX_QUALIFIERS Philox4 philox4x32_10(uint64_t counter_lo, uint64_t counter_hi, uint64_t key) {
  uint32_t c0 = static_cast<uint32_t>(counter_lo), c1 = static_cast<uint32_t>(counter_lo >> 32);
  uint32_t c2 = static_cast<uint32_t>(counter_hi), c3 = static_cast<uint32_t>(counter_hi >> 32);
  uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  for (int round = 0; round < 10; ++round) {
    const uint32_t hi0 = mul_hi32(0xD2511F53u, c0), lo0 = 0xD2511F53u * c0;
    const uint32_t hi1 = mul_hi32(0xCD9E8D57u, c2), lo1 = 0xCD9E8D57u * c2;
    const uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return {{c0, c1, c2, c3}};
}

// A uniform float in [0, 1) from the top 24 bits of a word.
SIGNET_PHILOX_QUALIFIERS float uniform_from_bits(uint32_t w) {
  return static_cast<float>(w >> 8) * (1.0f / 16777216.0f);
}

// Element i's mask value: 1 / keep when kept (its uniform < keep), else 0. Its four random
// words are philox(counter = (i / 4, offset), key = seed), word i % 4.
SIGNET_PHILOX_QUALIFIERS float dropout_mask_value(uint64_t seed, uint64_t offset, int64_t i, float keep) {
  const Philox4 r = philox4x32_10(static_cast<uint64_t>(i) / 4, offset, seed);
  return uniform_from_bits(r.w[i % 4]) < keep ? 1.0f / keep : 0.0f;
}

}  // namespace signet::cuda_kernels
