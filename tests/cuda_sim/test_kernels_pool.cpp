// The max-pooling kernels (engine/cuda/kernels/pool.cuh) on the CPU SIMT harness against the CPU
// references: non-overlapping and overlapping windows, padding, odd plane sizes, a NaN, the
// GPU's launch shape and a tight grid.
#include <cmath>

#include "engine/cuda/kernels/elementwise.cuh"
#include "engine/cuda/kernels/pool.cuh"
#include "engine/ops/pool.h"
#include "tests/cuda_sim/kernel_test_util.h"

namespace signet::testing {
namespace {

TEST(CudaSimKernels, MaxPoolForwardBackwardAndGatherMatchTheCpuReference) {
  struct Case { int64_t N, C, H, W, k, s, p; };
  const std::vector<Case> cases = {{2, 3, 8, 8, 2, 2, 0}, {1, 5, 7, 9, 3, 2, 1}, {3, 2, 5, 5, 3, 1, 1},
                                   {1, 1, 1, 1, 1, 1, 0}, {2, 33, 6, 6, 2, 2, 0}};
  for (const Case& c : cases) {
    const Pool2dGeom g = pool2d_geom("test", {c.N, c.C, c.H, c.W}, c.k, c.s, c.p);
    const ck::PoolShape ps{g.N, g.C, g.H, g.W, g.k, g.s, g.p, g.Ho, g.Wo};
    const int64_t in = g.N * g.C * g.H * g.W, out = g.N * g.C * g.Ho * g.Wo;
    std::vector<float> x = random_floats(in, 5);
    if (in > 3) x[3] = NAN;  // NaN wins its windows, as in PyTorch
    std::vector<float> y_ref(out), y(out, -1.0f), y_tight(out, -1.0f);
    std::vector<int64_t> i_ref(out), i(out, -7), i_tight(out, -7);
    cpu::max_pool2d_ref(g, x.data(), y_ref.data(), i_ref.data());
    run_kernel(ck::max_pool2d_kernel, ck::elementwise_shape(out), x.data(), y.data(), i.data(), ps);
    run_kernel(ck::max_pool2d_kernel, tight_shape(), x.data(), y_tight.data(), i_tight.data(), ps);
    EXPECT_TRUE(close_to(y, y_ref, 0, 0)) << c.H << "x" << c.W << " k" << c.k;
    EXPECT_TRUE(close_to(y_tight, y_ref, 0, 0));
    EXPECT_EQ(i, i_ref);
    EXPECT_EQ(i_tight, i_ref);

    const std::vector<float> dy = random_floats(out, 6);
    std::vector<float> dx_ref(in), dx(in, 99.0f);
    cpu::max_pool2d_backward_ref(g, dy.data(), i_ref.data(), dx_ref.data());
    run_kernel(ck::fill_f32_kernel, ck::elementwise_shape(in), dx.data(), 0.0f, in);
    run_kernel(ck::max_pool2d_backward_kernel, tight_shape(), dy.data(), i_ref.data(), dx.data(), ps);
    EXPECT_TRUE(close_to(dx, dx_ref, 1e-6f, 1e-6f));  // overlapping windows add in another order

    std::vector<float> gathered(out, -1.0f), want(out);
    cpu::max_pool2d_gather_fast(g, dx_ref.data(), i_ref.data(), want.data());
    run_kernel(ck::max_pool2d_gather_kernel, ck::elementwise_shape(out), dx_ref.data(), i_ref.data(),
               gathered.data(), ps);
    EXPECT_TRUE(close_to(gathered, want, 0, 0));
  }
}

}  // namespace
}  // namespace signet::testing
