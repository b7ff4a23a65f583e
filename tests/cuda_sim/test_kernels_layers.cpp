// The layer kernels on the CPU SIMT harness against the CPU references, with the GPU's launch
// shapes and a tight grid: max pooling (kernels/pool.cuh: non-overlapping and overlapping
// windows, padding, odd plane sizes, a NaN), batch norm (kernels/batchnorm.cuh: statistics,
// apply, fused backward) and the strided copy.
#include <cmath>
#include <functional>

#include "engine/cuda/kernels/batchnorm.cuh"
#include "engine/cuda/kernels/elementwise.cuh"
#include "engine/cuda/kernels/index.cuh"
#include "engine/ops/index.h"
#include "engine/ops/batchnorm.h"
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

TEST(CudaSimKernels, AveragePoolingForwardAndBackwardMatchTheCpuReference) {
  struct Case { int64_t N, C, H, W, k, s, p; };
  for (const Case& c : std::vector<Case>{{2, 3, 8, 8, 2, 2, 0}, {1, 5, 7, 9, 3, 2, 1}, {3, 2, 5, 5, 3, 1, 1}}) {
    const Pool2dGeom g = pool2d_geom("test", {c.N, c.C, c.H, c.W}, c.k, c.s, c.p);
    const ck::PoolShape ps{g.N, g.C, g.H, g.W, g.k, g.s, g.p, g.Ho, g.Wo};
    const int64_t in = g.N * g.C * g.H * g.W, out = g.N * g.C * g.Ho * g.Wo;
    const std::vector<float> x = random_floats(in, 8), dy = random_floats(out, 9);
    std::vector<float> y_ref(out), y(out, -1.0f), dx_ref(in), dx(in, -1.0f);
    cpu::avg_pool2d_ref(g, x.data(), y_ref.data());
    cpu::avg_pool2d_backward_ref(g, dy.data(), dx_ref.data());
    run_kernel(ck::avg_pool2d_kernel, tight_shape(), x.data(), y.data(), ps);
    run_kernel(ck::avg_pool2d_backward_kernel, tight_shape(), dy.data(), dx.data(), ps);
    EXPECT_TRUE(close_to(y, y_ref, 1e-6f, 1e-5f)) << c.H << "x" << c.W << " k" << c.k << " s" << c.s;
    EXPECT_TRUE(close_to(dx, dx_ref, 1e-6f, 1e-5f)) << c.H << "x" << c.W << " k" << c.k << " s" << c.s;
  }
}

TEST(CudaSimKernels, IndexKernelsMatchTheCpuLoops) {
  const IndexView v{3, 7, 5};  // [outer, n, inner]
  const int64_t K = 4;
  const std::vector<float> x = random_floats(v.outer * v.n * v.inner, 10), src = random_floats(v.outer * K * v.inner, 11);
  const std::vector<int64_t> rows = {6, 0, 6, 2};  // a repeat: the additions must add
  std::vector<int64_t> pos(static_cast<size_t>(v.outer * K * v.inner));
  for (size_t i = 0; i < pos.size(); ++i) pos[i] = static_cast<int64_t>((i * 5 + 1) % v.n);
  std::vector<float> want(v.outer * K * v.inner), got(want.size(), -1.0f);
  cpu::index_select(reinterpret_cast<const char*>(x.data()), reinterpret_cast<char*>(want.data()), rows.data(), v, K,
                    sizeof(float));
  run_kernel(ck::index_select_kernel, tight_shape(), x.data(), got.data(), rows.data(), v.outer, v.n, K, v.inner);
  EXPECT_EQ(got, want);
  cpu::gather(x.data(), pos.data(), want.data(), v, K);
  run_kernel(ck::gather_kernel, tight_shape(), x.data(), pos.data(), got.data(), v.outer, v.n, K, v.inner);
  EXPECT_EQ(got, want);
  std::vector<float> acc_want = x, acc = x;
  cpu::index_add(acc_want.data(), src.data(), rows.data(), v, K);
  run_kernel(ck::index_add_kernel, tight_shape(), acc.data(), src.data(), rows.data(), v.outer, v.n, K, v.inner);
  EXPECT_TRUE(close_to(acc, acc_want, 1e-6f, 1e-6f));
  acc_want = x, acc = x;
  cpu::scatter_add(acc_want.data(), src.data(), pos.data(), v, K);
  run_kernel(ck::scatter_add_kernel, tight_shape(), acc.data(), src.data(), pos.data(), v.outer, v.n, K, v.inner);
  EXPECT_TRUE(close_to(acc, acc_want, 1e-6f, 1e-6f));
  std::vector<int64_t> am_want(v.outer * v.inner), am(am_want.size(), -1);
  cpu::argmax(x.data(), am_want.data(), v);
  run_kernel(ck::argmax_kernel, tight_shape(), x.data(), am.data(), v.outer, v.n, v.inner);
  EXPECT_EQ(am, am_want);
  // The check names the first bad index: flag = count - k.
  const std::vector<int64_t> bad = {1, 9, 3, -2};
  unsigned long long flag = 0;
  run_kernel(ck::index_check_kernel, tight_shape(), bad.data(), int64_t{4}, v.n, &flag);
  EXPECT_EQ(flag, 3u);
}

TEST(CudaSimKernels, BatchNormStatisticsApplyAndBackwardMatchTheCpuReference) {
  struct Case { int64_t N, C, S; };
  for (const Case& c : std::vector<Case>{{4, 3, 37}, {33, 5, 1}, {2, 70, 9}}) {
    const int64_t n = c.N * c.C * c.S;
    const std::vector<float> x = random_floats(n, 1), g = random_floats(n, 2), w = random_floats(c.C, 3, 0.5f, 2.0f);
    std::vector<float> mean_ref(c.C), var_ref(c.C), mean(c.C), var(c.C);
    cpu::batch_norm_stats_ref(x.data(), c.N, c.C, c.S, mean_ref.data(), var_ref.data());
    for (const ck::LaunchShape shape : {ck::row_shape(c.C), ck::LaunchShape{2, 64}}) {
      run_kernel(ck::batch_norm_stats_kernel, shape, x.data(), c.N, c.C, c.S, mean.data(), var.data());
      EXPECT_TRUE(close_to(mean, mean_ref, 1e-5f, 1e-4f));
      EXPECT_TRUE(close_to(var, var_ref, 1e-5f, 1e-4f));
    }
    std::vector<float> invstd(c.C), scale(c.C), shift(c.C), y(n), y_ref(n);
    run_kernel(ck::batch_norm_channel_kernel, tight_shape(), static_cast<const float*>(mean_ref.data()),
               static_cast<const float*>(var_ref.data()), static_cast<const float*>(w.data()),
               static_cast<const float*>(nullptr), 1e-5f, invstd.data(), scale.data(), shift.data(),
               static_cast<float*>(nullptr), static_cast<float*>(nullptr), 0.1f, 1.0f, c.C);
    cpu::batch_norm_apply_ref(x.data(), c.N, c.C, c.S, scale.data(), shift.data(), y_ref.data());
    run_kernel(ck::batch_norm_apply_kernel, tight_shape(), static_cast<const float*>(x.data()),
               static_cast<const float*>(scale.data()), static_cast<const float*>(shift.data()), y.data(), c.N, c.C,
               c.S);
    EXPECT_TRUE(close_to(y, y_ref, 0, 0));
    for (bool training : {true, false}) {
      std::vector<float> dx_ref(n), dw_ref(c.C), db_ref(c.C), dx(n), sg(c.C), sgx(c.C);
      cpu::batch_norm_backward_ref(g.data(), x.data(), c.N, c.C, c.S, mean_ref.data(), invstd.data(), w.data(),
                                   training, dx_ref.data(), dw_ref.data(), db_ref.data());
      run_kernel(ck::batch_norm_backward_sums_kernel, ck::LaunchShape{2, 64}, g.data(), x.data(),
                 static_cast<const float*>(mean_ref.data()), static_cast<const float*>(invstd.data()), c.N, c.C, c.S,
                 sg.data(), sgx.data());
      EXPECT_TRUE(close_to(sg, db_ref, 1e-4f, 1e-4f));
      EXPECT_TRUE(close_to(sgx, dw_ref, 1e-4f, 1e-4f));
      run_kernel(ck::batch_norm_backward_dx_kernel, tight_shape(), g.data(), x.data(),
                 static_cast<const float*>(mean_ref.data()), static_cast<const float*>(invstd.data()),
                 static_cast<const float*>(w.data()), static_cast<const float*>(sg.data()),
                 static_cast<const float*>(sgx.data()), training, dx.data(), c.N, c.C, c.S);
      EXPECT_TRUE(close_to(dx, dx_ref, 1e-5f, 1e-4f)) << (training ? "training" : "eval");
    }
  }
}

TEST(CudaSimKernels, StridedCopyReadsAndWritesThroughTheStrides) {
  const Tensor x = Tensor::from_vector(random_floats(2 * 3 * 5, 4), {2, 3, 5});
  const std::vector<std::function<Tensor(const Tensor&)>> views = {
      [](const Tensor& t) { return t.transpose_view(0, 2); }, [](const Tensor& t) { return t.transpose_view(1, 2); },
      [](const Tensor& t) { return t.narrow_view(2, 1, 3); }};
  for (const auto& view_of : views) {
    const Tensor view = view_of(x);
    ck::BroadcastShape s;
    s.ndim = static_cast<int>(view.dim());
    const Tensor packed = view.contiguous();
    for (int64_t d = 0; d < view.dim(); ++d)
      s.sizes[d] = view.shape()[d], s.a_strides[d] = view.strides()[d], s.b_strides[d] = packed.strides()[d];
    std::vector<float> got(view.numel(), -1.0f);
    run_kernel(ck::strided_copy_kernel<float>, tight_shape(), x.f32() + view.offset(), got.data(), s, view.numel());
    EXPECT_EQ(got, packed.to_vector());
    // And back into the view's places of a zeroed copy: the inverse scatter.
    Tensor back = Tensor::zeros({2, 3, 5});
    const Tensor dst_view = view_of(back);
    for (int64_t d = 0; d < view.dim(); ++d) std::swap(s.a_strides[d], s.b_strides[d]);
    run_kernel(ck::strided_copy_kernel<float>, tight_shape(), static_cast<const float*>(got.data()),
               back.f32() + view.offset(), s, view.numel());
    EXPECT_EQ(dst_view.contiguous().to_vector(), packed.to_vector());
  }
}

}  // namespace
}  // namespace signet::testing
