// The packed register-tile kernels of gemm_blocked.h (the loop is gemm_tile_kernel.h) and the
// driver's per-thread packing buffers.
#include <cstdlib>
#include <memory>

#include "engine/cpu/gemm_blocked.h"
#include "engine/cpu/gemm_tile_kernel.h"

namespace signet::cpu::gemm {

float* thread_buffer(int which, int64_t floats) {
  struct Buf {
    float* p = nullptr;
    int64_t cap = 0;
    ~Buf() { std::free(p); }
  };
  thread_local Buf bufs[2];
  Buf& b = bufs[which];
  if (b.cap < floats) {
    std::free(b.p);
    const size_t bytes = (static_cast<size_t>(floats) * sizeof(float) + 63) / 64 * 64;
    b.p = static_cast<float*>(std::aligned_alloc(64, bytes));
    if (!b.p) throw std::bad_alloc();
    b.cap = floats;
  }
  return b.p;
}

#if SIGNET_HAVE_AVX512_GEMM
template <int MR>
void kernel(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha, float beta,
            int mr, int nr) {
  tile_kernel<MR, false, false>(kc, a, nullptr, b, nullptr, c, ldc, alpha, beta, mr, nr);
}
#else
// Portable version of the same contract (used only where the compiler targets no AVX-512;
// gemm_fast then goes to OpenBLAS instead, so this serves the convolution's packers).
template <int MR>
void kernel(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha, float beta,
            int mr, int nr) {
  float acc[MR][NR] = {};
  for (int64_t k = 0; k < kc; ++k, a += MR, b += NR)
    for (int r = 0; r < MR; ++r)
      for (int j = 0; j < NR; ++j) acc[r][j] += a[r] * b[j];
  for (int r = 0; r < mr; ++r)
    for (int j = 0; j < nr; ++j) {
      float& cv = c[r * ldc + j];
      cv = alpha * acc[r][j] + (beta == 0.0f ? 0.0f : beta * cv);
    }
}
#endif

template void kernel<8>(int64_t, const float*, const float*, float*, int64_t, float, float, int, int);
template void kernel<12>(int64_t, const float*, const float*, float*, int64_t, float, float, int, int);

}  // namespace signet::cpu::gemm
