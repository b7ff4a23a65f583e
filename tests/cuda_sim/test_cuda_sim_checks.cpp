// The emulator's error reports: each bug class is found and named, a correct variant is not
// reported, and the next launch after a report works normally.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "engine/cuda/kernel_compat.h"
#include "tests/cuda_sim/sim_test_kernels.h"

namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

// Runs `launch`, which must throw SimError; returns its message.
template <class F>
std::string sim_error_of(F&& launch) {
  try {
    launch();
  } catch (const cuda_sim::SimError& e) {
    return e.what();
  }
  ADD_FAILURE() << "the launch threw no cuda_sim::SimError";
  return "";
}

TEST(CudaSimChecks, ReductionMissingABarrierIsARace) {
  const std::vector<float> in = sim_test::sum_input(512);
  std::vector<float> partial(2);
  const std::string message = sim_error_of([&] {
    cuda_sim::launch(sim_test::block_sum, dim3(2), dim3(sim_test::kSumBlock), 0, in.data(), partial.data(), 512u, 0);
  });
  EXPECT_THAT(message, AllOf(HasSubstr("shared-memory race"), HasSubstr("block (0,0,0)"), HasSubstr("s[128]"),
                             HasSubstr("thread (128,0,0)"), HasSubstr("thread (0,0,0)")));
  sim_test::expect_block_sum_works(1000);
}

// The last warp's reduction steps: with `sync` each step is ordered by __syncwarp (correct on
// Volta and later); without it, the old implicitly warp-synchronous style, which is a race.
SIGNET_KERNEL warp_tail_sum(const float* in, float* out, int sync) {
  SIGNET_SHARED(float, s, 64);
  const unsigned tid = threadIdx.x;
  s[tid] = in[tid];
  __syncthreads();
  if (tid < 32) {
    for (unsigned offset = 32; offset > 0; offset >>= 1) {
      if (tid < offset) s[tid] += s[tid + offset];
      if (sync) __syncwarp();
    }
    if (tid == 0) *out = s[0];
  }
}

TEST(CudaSimChecks, WarpTailNeedsSyncwarp) {
  std::vector<float> in(64);
  float expected = 0;
  for (unsigned i = 0; i < 64; ++i) expected += in[i] = static_cast<float>(i % 5);
  float out = -1;
  cuda_sim::launch(warp_tail_sum, dim3(1), dim3(64), 0, in.data(), &out, 1);
  EXPECT_EQ(out, expected);
  const std::string message =
      sim_error_of([&] { cuda_sim::launch(warp_tail_sum, dim3(1), dim3(64), 0, in.data(), &out, 0); });
  EXPECT_THAT(message, AllOf(HasSubstr("shared-memory race"), HasSubstr("s[1]"), HasSubstr("thread (1,0,0)"),
                             HasSubstr("thread (0,0,0)")));
  sim_test::expect_block_sum_works(300);
}

SIGNET_KERNEL fill_shared(float* out) {
  SIGNET_SHARED(float, s, 32);
  s[threadIdx.x] = 1.0f;
  out[threadIdx.x] = s[threadIdx.x];
}

TEST(CudaSimChecks, OutOfRangeSharedIndex) {
  std::vector<float> out(33);
  cuda_sim::launch(fill_shared, dim3(1), dim3(32), 0, out.data());
  const std::string message = sim_error_of([&] { cuda_sim::launch(fill_shared, dim3(1), dim3(33), 0, out.data()); });
  EXPECT_THAT(message, AllOf(HasSubstr("out-of-range shared index"), HasSubstr("thread (32,0,0)"), HasSubstr("s[32]"),
                             HasSubstr("32 elements")));
  sim_test::expect_block_sum_works(1000);
}

SIGNET_KERNEL barrier_in_branch(int* out) {
  if (threadIdx.x < 16) __syncthreads();
  out[threadIdx.x] = 1;
}

TEST(CudaSimChecks, SyncthreadsInADivergentBranch) {
  std::vector<int> out(32);
  const std::string message = sim_error_of([&] { cuda_sim::launch(barrier_in_branch, dim3(1), dim3(32), 0, out.data()); });
  EXPECT_THAT(message, AllOf(HasSubstr("divergent __syncthreads"), HasSubstr("thread (0,0,0)"),
                             HasSubstr("thread (16,0,0)"), HasSubstr("has exited")));
  cuda_sim::launch(barrier_in_branch, dim3(1), dim3(16), 0, out.data());  // every thread takes the branch
  sim_test::expect_block_sum_works(1000);
}

SIGNET_KERNEL shuffle_after_exit(int* out) {
  if (threadIdx.x == 5) return;
  out[threadIdx.x] = __shfl_sync(0xffffffffu, static_cast<int>(threadIdx.x) + 100, 0);
}

SIGNET_KERNEL shuffle_full_mask(int* out) {
  out[threadIdx.x] = __shfl_sync(0xffffffffu, static_cast<int>(threadIdx.x), 0);
}

SIGNET_KERNEL shuffle_across_barrier(int* out) {
  if (threadIdx.x == 7) __syncthreads();
  out[threadIdx.x] = __shfl_sync(0xffffffffu, 1, 0);
}

TEST(CudaSimChecks, CollectiveNamingAnAbsentLaneIsADeadlock) {
  std::vector<int> out(64, 0);
  std::string message = sim_error_of([&] { cuda_sim::launch(shuffle_after_exit, dim3(1), dim3(32), 0, out.data()); });
  EXPECT_THAT(message, AllOf(HasSubstr("collective deadlock"), HasSubstr("__shfl_sync"), HasSubstr("lane 5 of warp 0"),
                             HasSubstr("has exited")));
  message = sim_error_of([&] { cuda_sim::launch(shuffle_across_barrier, dim3(1), dim3(32), 0, out.data()); });
  EXPECT_THAT(message, AllOf(HasSubstr("collective deadlock"), HasSubstr("lane 7 of warp 0"), HasSubstr("__syncthreads")));
  // A full mask over a partial warp names lanes that do not exist.
  message = sim_error_of([&] { cuda_sim::launch(shuffle_full_mask, dim3(1), dim3(40), 0, out.data()); });
  EXPECT_THAT(message, AllOf(HasSubstr("collective deadlock"), HasSubstr("thread (32,0,0)"),
                             HasSubstr("lane 8 of warp 1 does not exist")));
  sim_test::expect_block_sum_works(1000);
}

SIGNET_KERNEL noop(int*) {}

TEST(CudaSimChecks, InvalidLaunchConfigurationsAreRefused) {
  int x = 0;
  for (const auto& config : {std::pair{dim3(1), dim3(2048)}, std::pair{dim3(1), dim3(0)}, std::pair{dim3(1), dim3(1, 1, 65)},
                             std::pair{dim3(1, 65536), dim3(32)}, std::pair{dim3(0), dim3(32)}}) {
    const std::string message = sim_error_of([&] { cuda_sim::launch(noop, config.first, config.second, 0, &x); });
    EXPECT_THAT(message, HasSubstr("invalid configuration argument"));
  }
  EXPECT_THROW(cuda_sim::launch(noop, dim3(1), dim3(32), 64 * 1024, &x), cuda_sim::SimError);
  cuda_sim::launch(noop, dim3(65536), dim3(1), 0, &x);  // only y and z stop at 65535
  sim_test::expect_block_sum_works(1000);
}

int g_live_guards = 0;
struct LiveGuard {
  LiveGuard() { ++g_live_guards; }
  ~LiveGuard() { --g_live_guards; }
  LiveGuard(const LiveGuard&) = delete;
  LiveGuard& operator=(const LiveGuard&) = delete;
};

// Thread 40 throws while the threads before it wait at the barrier: their stacks must unwind.
SIGNET_KERNEL throw_in_kernel(int* out) {
  LiveGuard guard;
  if (threadIdx.x == 40) throw std::runtime_error("kernel check failed in thread 40");
  __syncthreads();
  out[threadIdx.x] = 1;
}

TEST(CudaSimChecks, ExceptionFromAKernelPropagatesAndUnwindsThreads) {
  std::vector<int> out(64, 0);
  EXPECT_THROW(
      {
        try {
          cuda_sim::launch(throw_in_kernel, dim3(1), dim3(64), 0, out.data());
        } catch (const std::runtime_error& e) {
          EXPECT_STREQ(e.what(), "kernel check failed in thread 40");
          throw;
        }
      },
      std::runtime_error);
  EXPECT_EQ(g_live_guards, 0);
  sim_test::expect_block_sum_works(1000);
}

TEST(CudaSimChecks, BuiltinsOutsideAKernelAreRefused) {
  EXPECT_THROW(static_cast<void>(threadIdx.x), cuda_sim::SimError);
  EXPECT_THROW(__syncthreads(), cuda_sim::SimError);
}

}  // namespace
