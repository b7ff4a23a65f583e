// The CPU SIMT emulator itself: built-ins, shared memory, warp collectives, atomics and launches
// give CUDA's results. Its error reports are tested in test_cuda_sim_checks.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <vector>

#include "engine/cuda/kernel_compat.h"
#include "tests/cuda_sim/sim_test_kernels.h"

namespace {

struct IndexRecord {
  unsigned t[3], b[3], bd[3], gd[3];
  unsigned writes;
};

SIGNET_KERNEL record_indices(IndexRecord* out) {
  const unsigned block = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  const unsigned thread = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  IndexRecord& r = out[block * blockDim.x * blockDim.y * blockDim.z + thread];
  r.t[0] = threadIdx.x, r.t[1] = threadIdx.y, r.t[2] = threadIdx.z;
  r.b[0] = blockIdx.x, r.b[1] = blockIdx.y, r.b[2] = blockIdx.z;
  r.bd[0] = blockDim.x, r.bd[1] = blockDim.y, r.bd[2] = blockDim.z;
  r.gd[0] = gridDim.x, r.gd[1] = gridDim.y, r.gd[2] = gridDim.z;
  ++r.writes;
}

void check_indices(dim3 grid, dim3 block) {
  const unsigned per_block = block.x * block.y * block.z;
  std::vector<IndexRecord> out(grid.x * grid.y * grid.z * per_block, IndexRecord{});
  cuda_sim::launch(record_indices, grid, block, 0, out.data());
  for (unsigned bz = 0; bz < grid.z; ++bz)
    for (unsigned by = 0; by < grid.y; ++by)
      for (unsigned bx = 0; bx < grid.x; ++bx)
        for (unsigned tz = 0; tz < block.z; ++tz)
          for (unsigned ty = 0; ty < block.y; ++ty)
            for (unsigned tx = 0; tx < block.x; ++tx) {
              const unsigned b = bx + grid.x * (by + grid.y * bz);
              const IndexRecord& r = out[b * per_block + tx + block.x * (ty + block.y * tz)];
              ASSERT_EQ(r.writes, 1u);
              EXPECT_EQ((std::array<unsigned, 3>{r.t[0], r.t[1], r.t[2]}), (std::array<unsigned, 3>{tx, ty, tz}));
              EXPECT_EQ((std::array<unsigned, 3>{r.b[0], r.b[1], r.b[2]}), (std::array<unsigned, 3>{bx, by, bz}));
              EXPECT_EQ((std::array<unsigned, 3>{r.bd[0], r.bd[1], r.bd[2]}),
                        (std::array<unsigned, 3>{block.x, block.y, block.z}));
              EXPECT_EQ((std::array<unsigned, 3>{r.gd[0], r.gd[1], r.gd[2]}),
                        (std::array<unsigned, 3>{grid.x, grid.y, grid.z}));
            }
}

TEST(CudaSim, Dim3DefaultsLikeCuda) {
  dim3 d(7);
  EXPECT_EQ(d.x, 7u);
  EXPECT_EQ(d.y, 1u);
  EXPECT_EQ(d.z, 1u);
}

TEST(CudaSim, IndicesOf2DAnd3DGridsWithOddSizes) {
  check_indices(dim3(5, 2), dim3(7, 3));
  check_indices(dim3(2, 3, 2), dim3(3, 2, 5));
}

TEST(CudaSim, SharedTreeReductionEqualsPlainSum) {
  sim_test::expect_block_sum_works(1000);
  sim_test::expect_block_sum_works(256);
  sim_test::expect_block_sum_works(1);
}

// Per warp: a __shfl_down_sync sum into lane 0 (a partial warp adds only lanes that exist), and
// a __shfl_xor_sync butterfly that leaves the warp's sum in every lane.
SIGNET_KERNEL warp_sums(const float* in, float* down_sum, float* xor_sum) {
  const unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
  const unsigned lane = threadIdx.x % warpSize;
  const unsigned mask = __activemask();
  const unsigned lanes = static_cast<unsigned>(__popc(mask));
  float v = in[i];
  for (unsigned d = 16; d > 0; d >>= 1) {
    const float other = __shfl_down_sync(mask, v, d);
    if (lane + d < lanes) v += other;
  }
  const unsigned warps = (blockDim.x + warpSize - 1) / warpSize;
  if (lane == 0) down_sum[blockIdx.x * warps + threadIdx.x / warpSize] = v;
  float b = in[i];
  for (int d = 16; d > 0; d >>= 1) {
    const float other = __shfl_xor_sync(mask, b, d);
    if ((lane ^ static_cast<unsigned>(d)) < lanes) b += other;
  }
  xor_sum[i] = b;
}

TEST(CudaSim, WarpShuffleReductionsWithAPartialLastWarp) {
  const unsigned block = 100;  // warps of 32, 32, 32 and 4 lanes
  std::vector<float> in(2 * block);
  for (std::size_t i = 0; i < in.size(); ++i) in[i] = static_cast<float>((i * 7) % 13);
  std::vector<float> down(2 * 4, -1.f), butterfly(in.size(), -1.f);
  cuda_sim::launch(warp_sums, dim3(2), dim3(block), 0, in.data(), down.data(), butterfly.data());
  for (unsigned blk = 0; blk < 2; ++blk) {
    for (unsigned first = 0; first < block; first += 32) {
      const unsigned last = std::min(first + 32, block);
      float expected = 0;
      for (unsigned t = first; t < last; ++t) expected += in[blk * block + t];
      EXPECT_EQ(down[blk * 4 + first / 32], expected) << "block " << blk << " warp from " << first;
      for (unsigned t = first; t < last; ++t) EXPECT_EQ(butterfly[blk * block + t], expected) << "thread " << t;
    }
  }
}

SIGNET_KERNEL warp_votes(const int* pred, unsigned* ballot_count, int* any, int* all) {
  const unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
  const unsigned mask = __activemask();
  const unsigned ballot = __ballot_sync(mask, pred[i]);
  const int some = __any_sync(mask, pred[i]);
  const int every = __all_sync(mask, pred[i]);
  if (threadIdx.x % warpSize == 0) {
    ballot_count[i / warpSize] = static_cast<unsigned>(__popc(ballot));
    any[i / warpSize] = some;
    all[i / warpSize] = every;
  }
}

TEST(CudaSim, BallotAnyAllPerWarp) {
  const unsigned block = 70;  // warps of 32, 32 and 6 lanes
  std::vector<int> pred(block);
  for (unsigned t = 0; t < 32; ++t) pred[t] = t % 3 == 0;  // warp 0: mixed
  for (unsigned t = 32; t < 64; ++t) pred[t] = 0;          // warp 1: none
  for (unsigned t = 64; t < 70; ++t) pred[t] = 5;          // warp 2: all, non-zero not 1
  std::vector<unsigned> count(3, 99);
  std::vector<int> any(3, 99), all(3, 99);
  cuda_sim::launch(warp_votes, dim3(1), dim3(block), 0, pred.data(), count.data(), any.data(), all.data());
  EXPECT_EQ(count, (std::vector<unsigned>{11, 0, 6}));
  EXPECT_EQ(any, (std::vector<int>{1, 0, 1}));
  EXPECT_EQ(all, (std::vector<int>{0, 0, 1}));
}

// width 16: a broadcast from the first lane of each half-warp, and an inclusive scan in each.
SIGNET_KERNEL half_warp_shuffles(const int* in, int* first_of_half, int* scan) {
  const unsigned i = threadIdx.x;
  const unsigned mask = __activemask();
  first_of_half[i] = __shfl_sync(mask, in[i], 0, 16);
  int v = in[i];
  for (unsigned d = 1; d < 16; d <<= 1) {
    const int up = __shfl_up_sync(mask, v, d, 16);
    if (i % 16 >= d) v += up;
  }
  scan[i] = v;
}

TEST(CudaSim, ShuffleWidth16) {
  const unsigned block = 48;  // the second warp has 16 lanes
  std::vector<int> in(block), first(block), scan(block);
  for (unsigned t = 0; t < block; ++t) in[t] = static_cast<int>(t * t % 11) + 1;
  cuda_sim::launch(half_warp_shuffles, dim3(1), dim3(block), 0, in.data(), first.data(), scan.data());
  for (unsigned t = 0; t < block; ++t) {
    EXPECT_EQ(first[t], in[t / 16 * 16]) << t;
    int expected = 0;
    for (unsigned k = t / 16 * 16; k <= t; ++k) expected += in[k];
    EXPECT_EQ(scan[t], expected) << t;
  }
}

SIGNET_DEVICE float atomic_max_float(float* address, float val) {
  int* bits = reinterpret_cast<int*>(address);
  int old = *bits;
  int assumed;
  do {
    assumed = old;
    if (__int_as_float(assumed) >= val) break;
    old = atomicCAS(bits, assumed, __float_as_int(val));
  } while (assumed != old);
  return __int_as_float(old);
}

SIGNET_KERNEL atomics(const int* in, int n, unsigned* hist, int* max_int, float* max_float) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i >= n) return;
  atomicAdd(&hist[in[i] & 15], 1u);
  atomicMax(max_int, in[i]);
  atomic_max_float(max_float, static_cast<float>(in[i]) * -0.5f);
}

TEST(CudaSim, AtomicHistogramMaxAndCasFloatMax) {
  const int n = 1000;
  std::vector<int> in(n);
  for (int i = 0; i < n; ++i) in[i] = (i * 37 + 11) % 101 + 3;
  std::vector<unsigned> hist(16, 0), expected_hist(16, 0);
  int max_int = std::numeric_limits<int>::min();
  float max_float = -std::numeric_limits<float>::infinity();
  cuda_sim::launch(atomics, dim3(4), dim3(256), 0, in.data(), n, hist.data(), &max_int, &max_float);
  for (int v : in) ++expected_hist[v & 15];
  EXPECT_EQ(hist, expected_hist);
  EXPECT_EQ(max_int, *std::max_element(in.begin(), in.end()));
  EXPECT_EQ(max_float, static_cast<float>(*std::min_element(in.begin(), in.end())) * -0.5f);
}

TEST(CudaSim, MathAndBitIntrinsics) {
  EXPECT_EQ(__popc(0xF0F0u), 8);
  EXPECT_EQ(__ffs(0), 0);
  EXPECT_EQ(__ffs(8), 4);
  EXPECT_EQ(__clz(1), 31);
  EXPECT_EQ(__clz(0), 32);
  EXPECT_EQ(__umulhi(0x80000000u, 6u), 3u);
  EXPECT_EQ(__float2int_rn(2.5f), 2);
  EXPECT_EQ(__float2int_rn(3.5f), 4);
  EXPECT_EQ(__float2int_rn(-1.6f), -2);
  EXPECT_EQ(__float_as_int(1.0f), 0x3f800000);
  EXPECT_EQ(__int_as_float(0x40000000), 2.0f);
  EXPECT_FLOAT_EQ(rsqrtf(4.0f), 0.5f);
  EXPECT_FLOAT_EQ(__expf(1.0f), std::exp(1.0f));
  EXPECT_FLOAT_EQ(__logf(2.0f), std::log(2.0f));
  EXPECT_FLOAT_EQ(__fdividef(1.0f, 4.0f), 0.25f);
  const float x = 3.0f;
  EXPECT_EQ(__ldg(&x), 3.0f);
  EXPECT_EQ(min(3, -2), -2);
  EXPECT_EQ(max(3u, 7), 7u);
  EXPECT_EQ(max(-1.5f, 2.0f), 2.0f);
}

// Each block reverses its slice through dynamic shared memory sized at launch.
SIGNET_KERNEL reverse_blocks(const float* __restrict__ in, float* __restrict__ out) {
  SIGNET_DYNAMIC_SHARED(float, buf);
  const unsigned t = threadIdx.x;
  const unsigned base = blockIdx.x * blockDim.x;
  buf[t] = in[base + t];
  __syncthreads();
  out[base + t] = buf[blockDim.x - 1 - t];
}

TEST(CudaSim, DynamicSharedMemorySizedAtLaunch) {
  const unsigned block = 200;
  std::vector<float> in(3 * block), out(3 * block, -1.f);
  for (std::size_t i = 0; i < in.size(); ++i) in[i] = static_cast<float>(i);
  cuda_sim::launch(reverse_blocks, dim3(3), dim3(block), block * sizeof(float), in.data(), out.data());
  for (unsigned b = 0; b < 3; ++b)
    for (unsigned t = 0; t < block; ++t) EXPECT_EQ(out[b * block + t], in[b * block + block - 1 - t]);
  // Half the bytes the kernel needs: the upper half of each block indexes past the end.
  EXPECT_THROW(cuda_sim::launch(reverse_blocks, dim3(3), dim3(block), block * sizeof(float) / 2, in.data(), out.data()),
               cuda_sim::SimError);
}

// A 1024-thread block where every thread reads all 4096 words of a shared array: the race
// check's bookkeeping must stay cheap for whole-block reads.
SIGNET_KERNEL every_thread_sums_all(const float* in, float* out) {
  SIGNET_SHARED(float, s, 4096);
  const unsigned t = threadIdx.x + blockDim.x * threadIdx.y;
  for (unsigned k = 0; k < 4; ++k) s[4 * t + k] = in[4 * t + k];
  __syncthreads();
  float sum = 0;
  for (unsigned k = 0; k < 4096; ++k) sum += s[(k + t) % 4096];
  out[t] = sum;
}

TEST(CudaSim, LargeBlockReadsOfAWholeSharedArray) {
  std::vector<float> in(4096), out(1024, -1.f);
  float expected = 0;
  for (unsigned i = 0; i < in.size(); ++i) expected += in[i] = static_cast<float>(i % 3);
  cuda_sim::launch(every_thread_sums_all, dim3(1), dim3(32, 32), 0, in.data(), out.data());
  for (unsigned t = 0; t < out.size(); ++t) ASSERT_EQ(out[t], expected) << t;
}

// The shared-element proxy's operators, proxy-to-proxy assignments, and a partition view `s + k`.
SIGNET_KERNEL shared_operators(float* out, int* ints) {
  SIGNET_SHARED(float, s, 8);
  SIGNET_SHARED(int, bits, 2);
  if (threadIdx.x != 0) return;
  s[0] = 3.0f;
  s[1] = s[0];   // 3
  s[1] += s[0];  // 6
  s[2] = 10.0f;
  s[2] -= 4.0f;  // 6
  s[2] *= s[0];  // 18
  s[2] /= 2.0f;  // 9
  auto upper = s + 4;
  upper[0] = 7.0f;  // s[4]
  upper[1] = s[2];  // s[5] = 9
  for (int i = 0; i < 8; ++i) out[i] = i == 3 || i > 5 ? 0.0f : static_cast<float>(s[i]);
  bits[0] = 12;
  bits[0] |= 3;   // 15
  bits[0] &= 6;   // 6
  bits[0] ^= 5;   // 3
  ints[0] = bits[0];
  ints[1] = static_cast<int>(upper.size());
}

TEST(CudaSim, SharedElementOperators) {
  std::vector<float> out(8, -1.f);
  std::vector<int> ints(2, -1);
  cuda_sim::launch(shared_operators, dim3(1), dim3(2), 0, out.data(), ints.data());
  EXPECT_EQ(out, (std::vector<float>{3, 6, 9, 0, 7, 9, 0, 0}));
  EXPECT_EQ(ints, (std::vector<int>{3, 4}));
}

// Shuffles move each supported type bit for bit; a read of a lane outside the mask is undefined.
SIGNET_KERNEL typed_rotations(double* d, long long* ll, unsigned* u, float* outside) {
  const unsigned t = threadIdx.x;
  const int from = static_cast<int>((t + 1) % warpSize);
  d[t] = __shfl_sync(0xffffffffu, d[t], from);
  ll[t] = __shfl_sync(0xffffffffu, ll[t], from);
  u[t] = __shfl_xor_sync(0xffffffffu, u[t], 1);
  if (t < 2) outside[t] = __shfl_sync(0x3u, 1.0f, 5);  // lane 5 is not in the mask
}

TEST(CudaSim, ShufflesOfEachTypeAndUndefinedSources) {
  std::vector<double> d(32);
  std::vector<long long> ll(32);
  std::vector<unsigned> u(32);
  for (unsigned t = 0; t < 32; ++t) {
    d[t] = 0.1 * t + 1e-12;
    ll[t] = (1ll << 40) + t;
    u[t] = 0x80000000u | t;
  }
  const std::vector<double> d0 = d;
  const std::vector<long long> ll0 = ll;
  const std::vector<unsigned> u0 = u;
  std::vector<float> outside(2, 0.f);
  cuda_sim::launch(typed_rotations, dim3(1), dim3(32), 0, d.data(), ll.data(), u.data(), outside.data());
  for (unsigned t = 0; t < 32; ++t) {
    EXPECT_EQ(d[t], d0[(t + 1) % 32]);
    EXPECT_EQ(ll[t], ll0[(t + 1) % 32]);
    EXPECT_EQ(u[t], u0[t ^ 1]);
  }
  EXPECT_TRUE(std::isnan(outside[0]));
  EXPECT_TRUE(std::isnan(outside[1]));
}

TEST(CudaSim, AtomicsOfEachType) {
  double d = 1.5;
  EXPECT_EQ(atomicAdd(&d, 2.0), 1.5);
  EXPECT_EQ(d, 3.5);
  unsigned long long ull = 5;
  EXPECT_EQ(atomicCAS(&ull, 4ull, 9ull), 5ull);
  EXPECT_EQ(ull, 5ull);
  EXPECT_EQ(atomicCAS(&ull, 5ull, 9ull), 5ull);
  EXPECT_EQ(ull, 9ull);
  unsigned u = 7;
  EXPECT_EQ(atomicMin(&u, 3u), 7u);
  EXPECT_EQ(atomicMax(&u, 2u), 3u);
  EXPECT_EQ(u, 3u);
  int i = -4;
  EXPECT_EQ(atomicExch(&i, 11), -4);
  EXPECT_EQ(atomicMin(&i, -20), 11);
  EXPECT_EQ(i, -20);
  float f = 1.0f;
  EXPECT_EQ(atomicExch(&f, 2.5f), 1.0f);
  EXPECT_EQ(f, 2.5f);
}

// Lanes that returned early are not active; a shuffle over the active ones needs no others.
SIGNET_KERNEL active_after_early_exit(const int* keep, unsigned* active, int* from_first) {
  const unsigned t = threadIdx.x;
  if (!keep[t]) return;
  const unsigned mask = __activemask();
  active[t] = mask;
  from_first[t] = __shfl_sync(mask, static_cast<int>(t) * 10, __ffs(static_cast<int>(mask)) - 1);
}

TEST(CudaSim, ActiveMaskLeavesOutExitedLanes) {
  std::vector<int> keep(40);
  unsigned expected_warp0 = 0, expected_warp1 = 0;
  for (unsigned t = 0; t < 40; ++t) {
    keep[t] = t % 7 != 3 && t != 0;
    if (keep[t]) (t < 32 ? expected_warp0 : expected_warp1) |= 1u << (t % 32);
  }
  std::vector<unsigned> active(40, 0);
  std::vector<int> from_first(40, -1);
  cuda_sim::launch(active_after_early_exit, dim3(1), dim3(40), 0, keep.data(), active.data(), from_first.data());
  for (unsigned t = 0; t < 40; ++t) {
    if (!keep[t]) continue;
    EXPECT_EQ(active[t], t < 32 ? expected_warp0 : expected_warp1) << t;
    EXPECT_EQ(from_first[t], t < 32 ? 10 : 320) << t;
  }
}

}  // namespace
