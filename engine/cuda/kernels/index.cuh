// The indexing ops (engine/ops/index.h) on a device, tensors viewed as [outer, n, inner] around
// the indexed dim. Indices are checked first (index_check_kernel), so the others read only valid
// rows. The additions (index_add, scatter_add) use atomics: repeated indices add in no fixed order.
#pragma once
#include "engine/cuda/kernels/common.cuh"

namespace signet::cuda_kernels {

// flag (0 before) ends as count - k for the first k with v[k] outside [0, n) (atomicMax), so
// the op can name the same index as the CPU.
SIGNET_KERNEL index_check_kernel(const int64_t* __restrict__ v, int64_t count, int64_t n,
                                 unsigned long long* __restrict__ flag) {
  for (int64_t k = global_index(); k < count; k += global_stride())
    if (v[k] < 0 || v[k] >= n) atomicMax(flag, static_cast<unsigned long long>(count - k));
}

// dst [outer, K, inner] = src rows idx[k].
SIGNET_KERNEL index_select_kernel(const float* __restrict__ src, float* __restrict__ dst,
                                  const int64_t* __restrict__ idx, int64_t outer, int64_t n, int64_t K,
                                  int64_t inner) {
  const int64_t total = outer * K * inner;
  for (int64_t j = global_index(); j < total; j += global_stride()) {
    const int64_t i = j % inner, k = (j / inner) % K, o = j / (inner * K);
    dst[j] = src[(o * n + idx[k]) * inner + i];
  }
}

// out [outer, n, inner] += src [outer, K, inner] at rows idx[k].
SIGNET_KERNEL index_add_kernel(float* __restrict__ out, const float* __restrict__ src, const int64_t* __restrict__ idx,
                               int64_t outer, int64_t n, int64_t K, int64_t inner) {
  const int64_t total = outer * K * inner;
  for (int64_t j = global_index(); j < total; j += global_stride()) {
    const int64_t i = j % inner, k = (j / inner) % K, o = j / (inner * K);
    atomicAdd(out + (o * n + idx[k]) * inner + i, src[j]);
  }
}

// out[o, k, i] = x[o, idx[o, k, i], i] over [outer, K, inner].
SIGNET_KERNEL gather_kernel(const float* __restrict__ x, const int64_t* __restrict__ idx, float* __restrict__ out,
                            int64_t outer, int64_t n, int64_t K, int64_t inner) {
  const int64_t total = outer * K * inner;
  for (int64_t j = global_index(); j < total; j += global_stride()) {
    const int64_t i = j % inner, o = j / (inner * K);
    out[j] = x[(o * n + idx[j]) * inner + i];
  }
}

// out[o, idx[o, k, i], i] += src[o, k, i]: gather's adjoint.
SIGNET_KERNEL scatter_add_kernel(float* __restrict__ out, const float* __restrict__ src,
                                 const int64_t* __restrict__ idx, int64_t outer, int64_t n, int64_t K, int64_t inner) {
  const int64_t total = outer * K * inner;
  for (int64_t j = global_index(); j < total; j += global_stride()) {
    const int64_t i = j % inner, o = j / (inner * K);
    atomicAdd(out + (o * n + idx[j]) * inner + i, src[j]);
  }
}

// out [outer, inner] = the first position of the largest along n.
SIGNET_KERNEL argmax_kernel(const float* __restrict__ x, int64_t* __restrict__ out, int64_t outer, int64_t n,
                            int64_t inner) {
  const int64_t total = outer * inner;
  for (int64_t j = global_index(); j < total; j += global_stride()) {
    const int64_t i = j % inner, o = j / inner;
    const float* p = x + o * n * inner + i;
    int64_t best = 0;
    for (int64_t k = 1; k < n; ++k)
      if (p[k * inner] > p[best * inner]) best = k;
    out[j] = best;
  }
}

}  // namespace signet::cuda_kernels
