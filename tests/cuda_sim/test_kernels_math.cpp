// Our CUDA kernels for elementwise ops, sums, softmax and the losses, run on the CPU SIMT
// harness against the CPU references (engine/ops/*_cpu.cpp), on sizes that are not multiples
// of the block, with the launch shapes the CUDA wrappers use and with a tight grid.
#include "engine/cuda/kernels/elementwise.cuh"
#include "engine/cuda/kernels/reduce.cuh"
#include "engine/cuda/kernels/softmax.cuh"
#include "engine/ops.h"
#include "engine/ops/binary.h"
#include "engine/ops/loss.h"
#include "engine/ops/reduce.h"
#include "engine/ops/softmax.h"
#include "engine/ops/unary.h"
#include "tests/cuda_sim/kernel_test_util.h"

namespace signet::testing {
namespace {

static_assert(static_cast<int>(ck::Unary::Log) == static_cast<int>(UnaryOp::Log));
static_assert(static_cast<int>(ck::Binary::Div) == static_cast<int>(BinaryOp::Div));

TEST(CudaSimKernels, UnaryMatchesTheCpuReference) {
  for (int op = 0; op <= static_cast<int>(ck::Unary::Log); ++op) {
    for (int64_t n : odd_sizes()) {
      const bool log = op == static_cast<int>(ck::Unary::Log);
      const std::vector<float> x = random_floats(n, 7 + n, log ? 0.01f : -4.0f, 4.0f);
      std::vector<float> ref(n), got(n, -1.0f), tight(n, -1.0f);
      cpu::unary_ref(static_cast<UnaryOp>(op), x.data(), ref.data(), n);
      run_kernel(ck::unary_kernel, ck::elementwise_shape(n), static_cast<ck::Unary>(op), x.data(), got.data(), n);
      run_kernel(ck::unary_kernel, tight_shape(), static_cast<ck::Unary>(op), x.data(), tight.data(), n);
      EXPECT_TRUE(close_to(got, ref, 1e-6f, 1e-5f)) << "op " << op << " n " << n;
      EXPECT_TRUE(close_to(tight, ref, 1e-6f, 1e-5f)) << "op " << op << " n " << n << " (tight grid)";
    }
  }
}

TEST(CudaSimKernels, ReluGradAndAffine) {
  for (int64_t n : odd_sizes()) {
    const std::vector<float> g = random_floats(n, 1), x = random_floats(n, 2);
    std::vector<float> ref(n), got(n);
    cpu::relu_grad_ref(g.data(), x.data(), ref.data(), n);
    run_kernel(ck::relu_grad_kernel, ck::elementwise_shape(n), g.data(), x.data(), got.data(), n);
    EXPECT_TRUE(close_to(got, ref, 0, 0)) << n;
    run_kernel(ck::affine_kernel, tight_shape(), x.data(), got.data(), -2.0f, 0.5f, n);
    for (int64_t i = 0; i < n; ++i) ref[i] = -2.0f * x[i] + 0.5f;
    EXPECT_TRUE(close_to(got, ref, 0, 0)) << n;
  }
}

TEST(CudaSimKernels, BinarySameShapeAndBroadcastMatchTheCpuReference) {
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{1000}, {1000}}, {{7, 33}, {33}}, {{7, 1, 5}, {1, 9, 5}}, {{3, 4, 1, 6}, {4, 5, 1}}, {{257}, {1}}};
  for (const auto& [sa, sb] : cases) {
    const Shape so = broadcast_shapes(sa, sb, "test");
    Tensor a = Tensor::from_vector(random_floats(shape_numel(sa), 3), sa);
    Tensor b = Tensor::from_vector(random_floats(shape_numel(sb), 4, 0.5f, 2.0f), sb);
    for (int op = 0; op <= static_cast<int>(ck::Binary::Div); ++op) {
      Tensor ref = Tensor::empty(so);
      cpu::binary_ref(static_cast<BinaryOp>(op), a, b, ref);
      const int64_t n = ref.numel();
      std::vector<float> got(n, -1.0f);
      if (sa == sb) {
        run_kernel(ck::binary_same_kernel, ck::elementwise_shape(n), static_cast<ck::Binary>(op), a.f32(), b.f32(),
                   got.data(), n);
      } else {
        ck::BroadcastShape s;
        s.ndim = static_cast<int>(so.size());
        const Tensor ea = expand(a, so), eb = expand(b, so);
        for (int d = 0; d < s.ndim; ++d) {
          s.sizes[d] = so[d];
          s.a_strides[d] = ea.strides()[d];
          s.b_strides[d] = eb.strides()[d];
        }
        run_kernel(ck::binary_broadcast_kernel, ck::elementwise_shape(n), static_cast<ck::Binary>(op), a.f32(),
                   b.f32(), got.data(), s, n);
      }
      EXPECT_TRUE(close_to(got, ref.to_vector(), 0, 0)) << "op " << op << " " << shape_str(sa) << " with "
                                                        << shape_str(sb);
    }
  }
}

TEST(CudaSimKernels, SumsOverTheMiddleMatchTheCpuReference) {
  const std::vector<std::array<int64_t, 3>> cases = {{1, 1, 1}, {1, 1000, 1}, {5, 257, 1}, {3, 33, 7},
                                                     {2, 5, 300}, {70, 31, 1}};
  for (const auto& [outer, n, inner] : cases) {
    const std::vector<float> x = random_floats(outer * n * inner, 11);
    std::vector<float> ref(outer * inner), got(outer * inner, -1.0f);
    cpu::sum_middle_ref(x.data(), ref.data(), outer, n, inner);
    if (inner == 1)
      run_kernel(ck::sum_rows_kernel, ck::row_shape(outer), x.data(), got.data(), outer, n);
    else
      run_kernel(ck::sum_columns_kernel, ck::elementwise_shape(outer * inner), x.data(), got.data(), outer, n, inner);
    EXPECT_TRUE(close_to(got, ref, 1e-4f, 1e-5f)) << outer << "x" << n << "x" << inner;
  }
  // More rows than blocks: the row loop goes round.
  const std::vector<float> x = random_floats(50 * 40, 12);
  std::vector<float> ref(50), got(50);
  cpu::sum_middle_ref(x.data(), ref.data(), 50, 40, 1);
  run_kernel(ck::sum_rows_kernel, ck::LaunchShape{3, 64}, x.data(), got.data(), int64_t{50}, int64_t{40});
  EXPECT_TRUE(close_to(got, ref, 1e-4f, 1e-5f));
}

TEST(CudaSimKernels, SoftmaxAndLogSoftmaxMatchTheCpuReference) {
  const std::vector<std::array<int64_t, 3>> cases = {{4, 10, 1}, {3, 1000, 1}, {1, 1, 1}, {2, 7, 33}, {5, 3, 2}};
  for (bool log : {false, true}) {
    for (const auto& [outer, n, inner] : cases) {
      const std::vector<float> x = random_floats(outer * n * inner, 21, -20.0f, 20.0f);
      std::vector<float> ref(x.size()), got(x.size(), -1.0f);
      cpu::softmax_ref(x.data(), ref.data(), outer, n, inner, log);
      if (inner == 1)
        run_kernel(ck::softmax_rows_kernel, ck::row_shape(outer), x.data(), got.data(), outer, n, log);
      else
        run_kernel(ck::softmax_columns_kernel, ck::elementwise_shape(outer * inner), x.data(), got.data(), outer, n,
                   inner, log);
      EXPECT_TRUE(close_to(got, ref, 1e-6f, 1e-5f)) << (log ? "log_softmax " : "softmax ") << outer << "x" << n
                                                    << "x" << inner;
    }
  }
}

TEST(CudaSimKernels, CrossEntropyLossAndGradientMatchTheOp) {
  for (const auto& [N, C] : std::vector<std::pair<int64_t, int64_t>>{{1, 10}, {37, 10}, {5, 1000}, {3, 2}}) {
    const std::vector<float> x = random_floats(N * C, 31, -8.0f, 8.0f);
    std::vector<int64_t> t(N);
    for (int64_t r = 0; r < N; ++r) t[r] = (r * 7 + 3) % C;
    std::vector<float> loss(N), grad(N * C);
    unsigned long long bad = 0;
    const float scale = 1.0f / static_cast<float>(N);
    run_kernel(ck::cross_entropy_kernel, ck::row_shape(N), x.data(), t.data(), loss.data(), grad.data(), scale, N, C,
               &bad);
    EXPECT_EQ(bad, 0u);
    double sum = 0;
    for (float l : loss) sum += l;
    EXPECT_NEAR(sum, cpu::cross_entropy_sum_ref(x.data(), t.data(), N, C), 1e-4 * N);

    Tensor logits = Tensor::from_vector(x, {N, C});
    logits.set_requires_grad(true);
    cross_entropy(logits, Tensor::from_vector_i64(t, {N})).backward();
    EXPECT_TRUE(close_to(grad, logits.grad().to_vector(), 1e-7f, 1e-5f)) << N << "x" << C;
  }
}

TEST(CudaSimKernels, CrossEntropyReportsTheFirstBadTargetWithoutReadingIt) {
  const int64_t N = 6, C = 4;
  const std::vector<float> x = random_floats(N * C, 5);
  const std::vector<int64_t> t = {0, 4, 1, -1, 2, 3};
  std::vector<float> loss(N);
  unsigned long long bad = 0;
  run_kernel(ck::cross_entropy_kernel, ck::row_shape(N), x.data(), t.data(), loss.data(), static_cast<float*>(nullptr),
             1.0f, N, C, &bad);
  EXPECT_EQ(bad, 5u);  // rows 1 (target 4) and 3 (target -1) are bad: N - 1 names the first
  EXPECT_TRUE(std::isnan(loss[1]) && std::isnan(loss[3]));
  EXPECT_FALSE(std::isnan(loss[0]) || std::isnan(loss[5]));
}

TEST(CudaSimKernels, BceWithLogitsMatchesTheOp) {
  for (int64_t n : odd_sizes()) {
    const std::vector<float> x = random_floats(n, 41, -30.0f, 30.0f), t = random_floats(n, 42, 0.0f, 1.0f);
    std::vector<float> loss(n), gx(n), gt(n);
    const float scale = 1.0f / static_cast<float>(n);
    run_kernel(ck::bce_with_logits_kernel, ck::elementwise_shape(n), x.data(), t.data(), loss.data(), gx.data(),
               gt.data(), scale, n);
    Tensor xt = Tensor::from_vector(x, {n}), tt = Tensor::from_vector(t, {n});
    xt.set_requires_grad(true);
    tt.set_requires_grad(true);
    Tensor l = bce_with_logits(xt, tt);
    l.backward();
    double sum = 0;
    for (float v : loss) sum += v;
    EXPECT_NEAR(sum / n, l.item(), 1e-5);
    EXPECT_TRUE(close_to(gx, xt.grad().to_vector(), 1e-7f, 1e-5f)) << n;
    EXPECT_TRUE(close_to(gt, tt.grad().to_vector(), 1e-7f, 1e-5f)) << n;
  }
}

}  // namespace
}  // namespace signet::testing
