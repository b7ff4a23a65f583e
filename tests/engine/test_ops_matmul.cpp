// matmul / linear: forward, gemm_fast (Signet's blocked GEMM) and gemm_blas vs gemm_ref with every transpose combination
// and padded leading dims, transposed and strided operands, gradients, double backward, errors.
#include <gtest/gtest.h>

#include "engine/ops.h"
#include "engine/ops/dispatch.h"
#include "tests/engine/gradcheck.h"

namespace signet {
namespace {

using test::all_close;
using test::throws_error;

TEST(OpsMatmul, Forward) {
  Tensor a = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = Tensor::from_vector({7, 8, 9, 10, 11, 12}, {3, 2});
  Tensor c = matmul(a, b);
  EXPECT_EQ(c.shape(), (Shape{2, 2}));
  EXPECT_TRUE(all_close(c, std::vector<float>{58, 64, 139, 154}));
  // linear: x [2,3], w [2,3] (out=2), bias [2]
  Tensor w = Tensor::from_vector({1, 0, -1, 2, 1, 0}, {2, 3});
  Tensor bias = Tensor::from_vector({0.5f, -1}, {2});
  EXPECT_TRUE(all_close(linear(a, w), std::vector<float>{-2, 4, -2, 13}));
  EXPECT_TRUE(all_close(linear(a, w, bias), std::vector<float>{-1.5f, 3, -1.5f, 12}));
  // empty inner dimension gives zeros (plus bias)
  EXPECT_TRUE(all_close(matmul(Tensor::zeros({2, 0}), Tensor::zeros({0, 3})),
                        std::vector<float>(6, 0.0f)));
  EXPECT_TRUE(all_close(linear(Tensor::zeros({2, 0}), Tensor::zeros({2, 0}), bias),
                        std::vector<float>{0.5f, -1, 0.5f, -1}));
  EXPECT_EQ(matmul(Tensor::zeros({0, 3}), Tensor::zeros({3, 4})).shape(), (Shape{0, 4}));
}

// C = alpha op(A) op(B) + beta C with row strides larger than the widths.
TEST(OpsMatmul, GemmFastMatchesReference) {
  struct Dims { int64_t M, N, K; };
  const std::vector<Dims> dims = {{1, 1, 1}, {3, 5, 7}, {37, 29, 53}, {64, 64, 64},
                                  {200, 190, 180}, {1, 257, 3}, {129, 1, 65},
                                  // several k-blocks, N past one B panel, threads splitting N
                                  // (a short A); several k-blocks, threads splitting M
                                  {100, 3100, 300}, {300, 1000, 300},
                                  // few rows: threads split N; rows not a multiple of 8 or 12
                                  {13, 700, 520}, {40, 96, 17},
                                  // at most 32 columns: the narrow path (A read in place), threads splitting M
                                  {3000, 27, 520}, {50, 32, 300}, {7, 33, 40},
                                  // at most 32 rows and B of at least 1 MiB: the few-row paths
                                  // (B stored [N, K]: C^T by the narrow path, then turned back;
                                  // else strips of B), threads splitting N; and a B below 1 MiB
                                  {16, 1000, 600}, {32, 520, 600}, {32, 64, 17}};
  Rng rng(21);
  for (const Dims& d : dims) {
    for (int combo = 0; combo < 4; ++combo) {
      const bool ta = combo & 1, tb = combo & 2;
      // stored shapes: A is [M,K] or [K,M] (ta); B is [K,N] or [N,K] (tb)
      const int64_t arows = ta ? d.K : d.M, acols = ta ? d.M : d.K;
      const int64_t brows = tb ? d.N : d.K, bcols = tb ? d.K : d.N;
      const int64_t lda = acols + 3, ldb = bcols + 5, ldc = d.N + 2;
      Tensor A = test::uniform_tensor({arows, lda}, rng);
      Tensor B = test::uniform_tensor({brows, ldb}, rng);
      Tensor C0 = test::uniform_tensor({d.M, ldc}, rng);
      for (float beta : {0.0f, 0.5f}) {
        Tensor Cr = C0.clone(), Cf = C0.clone();
        cpu::gemm_ref(ta, tb, d.M, d.N, d.K, 1.5f, A.f32(), lda, B.f32(), ldb, beta, Cr.f32(), ldc);
        cpu::gemm_fast(ta, tb, d.M, d.N, d.K, 1.5f, A.f32(), lda, B.f32(), ldb, beta, Cf.f32(), ldc);
        Tensor Cb = C0.clone();
        cpu::gemm_blas(ta, tb, d.M, d.N, d.K, 1.5f, A.f32(), lda, B.f32(), ldb, beta, Cb.f32(), ldc);
        const std::string what = "gemm M=" + std::to_string(d.M) + " N=" + std::to_string(d.N) +
                                 " K=" + std::to_string(d.K) + " ta=" + std::to_string(ta) +
                                 " tb=" + std::to_string(tb) + " beta=" + std::to_string(beta);
        // sums of K products of size <= 1: absolute error grows with K
        EXPECT_TRUE(all_close(Cf, Cr, 1e-6 * d.K, 1e-5, what));
        EXPECT_TRUE(all_close(Cb, Cr, 1e-6 * d.K, 1e-5, what + " (blas)"));
        // the padding columns of C are untouched
        EXPECT_TRUE(all_close(Cf.narrow_view(1, d.N, 2).contiguous(),
                              C0.narrow_view(1, d.N, 2).contiguous(), 0, 0, what + " padding"));
      }
    }
  }
  static_assert(200 * 190 > kParallelGrain);
}

TEST(OpsMatmul, TransposedAndStridedOperands) {
  Rng rng(22);
  Tensor a = test::uniform_tensor({5, 7}, rng), b = test::uniform_tensor({7, 4}, rng);
  const Tensor want = matmul(a, b);
  Tensor at = test::uniform_tensor({7, 5}, rng);
  at.copy_(a.transpose_view(0, 1));  // at^T == a, stored transposed
  Tensor bt = test::uniform_tensor({4, 7}, rng);
  bt.copy_(b.transpose_view(0, 1));
  EXPECT_TRUE(all_close(matmul(at.transpose_view(0, 1), b), want, 1e-5, 1e-5, "a^T"));
  EXPECT_TRUE(all_close(matmul(a, bt.transpose_view(0, 1)), want, 1e-5, 1e-5, "b^T"));
  EXPECT_TRUE(all_close(matmul(at.transpose_view(0, 1), bt.transpose_view(0, 1)), want, 1e-5,
                        1e-5, "a^T b^T"));
  EXPECT_TRUE(all_close(matmul(transpose(at, 0, 1), transpose(bt, 0, 1)), want, 1e-5, 1e-5));
  // narrow views: leading dim larger than the width, and an element offset
  Tensor wide = test::uniform_tensor({5, 10}, rng);
  wide.narrow_view(1, 2, 7).copy_(a);
  EXPECT_TRUE(all_close(matmul(wide.narrow_view(1, 2, 7), b), want, 1e-5, 1e-5, "narrow a"));
  Tensor tall = test::uniform_tensor({9, 4}, rng);
  tall.narrow_view(0, 1, 7).copy_(b);
  EXPECT_TRUE(all_close(matmul(a, tall.narrow_view(0, 1, 7)), want, 1e-5, 1e-5, "narrow b"));
  // a transposed narrow view (strides [1, ld]) and a broadcast (stride 0) operand
  Tensor wt = test::uniform_tensor({9, 5}, rng);
  wt.narrow_view(0, 1, 7).copy_(a.transpose_view(0, 1));
  EXPECT_TRUE(all_close(matmul(wt.narrow_view(0, 1, 7).transpose_view(0, 1), b), want, 1e-5,
                        1e-5, "transposed narrow a"));
  Tensor row = test::uniform_tensor({1, 7}, rng);
  EXPECT_TRUE(all_close(matmul(row.expand_view({5, 7}), b), matmul(row.expand_view({5, 7}).contiguous(), b),
                        1e-6, 1e-6, "expanded a"));
  // single row / column shapes
  Tensor col = test::uniform_tensor({7, 1}, rng);
  EXPECT_TRUE(all_close(matmul(col.transpose_view(0, 1), b), matmul(col.transpose_view(0, 1).contiguous(), b),
                        1e-6, 1e-6, "[1,7] transposed"));

  // linear with a transposed input and a transposed weight
  Tensor x = test::uniform_tensor({3, 7}, rng), w = test::uniform_tensor({4, 7}, rng);
  Tensor bias = test::uniform_tensor({4}, rng);
  const Tensor lw = linear(x, w, bias);
  EXPECT_TRUE(all_close(lw, add(matmul(x, transpose(w, 0, 1)), bias), 1e-5, 1e-5, "linear"));
  Tensor xt = x.transpose_view(0, 1).contiguous().transpose_view(0, 1);
  Tensor wt2 = w.transpose_view(0, 1).contiguous().transpose_view(0, 1);
  EXPECT_TRUE(all_close(linear(xt, wt2, bias), lw, 1e-5, 1e-5, "linear transposed operands"));
  Tensor bias_bcast = Tensor::from_vector({0.3f}, {1}).expand_view({4});  // stride 0
  EXPECT_TRUE(all_close(linear(x, w, bias_bcast), linear(x, w, bias_bcast.contiguous()), 1e-6,
                        1e-6, "broadcast bias"));
}

TEST(OpsMatmul, Gradcheck) {
  Rng rng(23);
  Tensor a = test::uniform_tensor({3, 4}, rng), b = test::uniform_tensor({4, 5}, rng);
  Tensor at = test::uniform_tensor({4, 3}, rng), bt = test::uniform_tensor({5, 4}, rng);
  EXPECT_TRUE(test::gradcheck([](const auto& v) { return matmul(v[0], v[1]); }, {a, b}));
  EXPECT_TRUE(test::gradcheck(
      [](const auto& v) { return matmul(transpose(v[0], 0, 1), transpose(v[1], 0, 1)); }, {at, bt}));
  EXPECT_TRUE(test::gradcheck([](const auto& v) { return matmul(v[0], v[0]); },
                              {test::uniform_tensor({3, 3}, rng)}));
  Tensor x = test::uniform_tensor({3, 4}, rng), w = test::uniform_tensor({2, 4}, rng);
  Tensor bias = test::uniform_tensor({2}, rng);
  EXPECT_TRUE(test::gradcheck([](const auto& v) { return linear(v[0], v[1], v[2]); }, {x, w, bias}));
  EXPECT_TRUE(test::gradcheck([](const auto& v) { return linear(v[0], v[1]); }, {x, w}));
  Tensor xt = test::uniform_tensor({4, 3}, rng), wt = test::uniform_tensor({4, 2}, rng);
  EXPECT_TRUE(test::gradcheck(
      [](const auto& v) { return linear(transpose(v[0], 0, 1), transpose(v[1], 0, 1), v[2]); },
      {xt, wt, bias}));
}

TEST(OpsMatmul, GradientValues) {
  Tensor a = Tensor::from_vector({1, 2, 3, 4}, {2, 2}).set_requires_grad(true);
  Tensor b = Tensor::from_vector({5, 6, 7, 8}, {2, 2}).set_requires_grad(true);
  sum(matmul(a, b)).backward();
  // da = 1 b^T: rows sum of b's rows; db = a^T 1
  EXPECT_TRUE(all_close(a.grad(), std::vector<float>{11, 15, 11, 15}));
  EXPECT_TRUE(all_close(b.grad(), std::vector<float>{4, 4, 6, 6}));
  Tensor bias = Tensor::zeros({2}).set_requires_grad(true);
  sum(linear(a, b, bias)).backward();
  EXPECT_TRUE(all_close(bias.grad(), std::vector<float>{2, 2}));
}

TEST(OpsMatmul, DoubleBackward) {
  Rng rng(24);
  Tensor a = test::uniform_tensor({3, 4}, rng), b = test::uniform_tensor({4, 2}, rng);
  EXPECT_TRUE(test::gradgradcheck([](const auto& v) { return matmul(v[0], v[1]); }, {a, b}));
  EXPECT_TRUE(test::gradgradcheck(
      [](const auto& v) { Tensor m = matmul(v[0], v[1]); return mul(m, m); }, {a, b}));
  Tensor x = test::uniform_tensor({3, 4}, rng), w = test::uniform_tensor({2, 4}, rng);
  Tensor bias = test::uniform_tensor({2}, rng);
  EXPECT_TRUE(test::gradgradcheck([](const auto& v) { return linear(v[0], v[1], v[2]); }, {x, w, bias}));
  EXPECT_TRUE(test::gradgradcheck(
      [](const auto& v) { return tanh(linear(v[0], v[1], v[2])); }, {x, w, bias}));
}

TEST(OpsMatmul, Errors) {
  Tensor a = Tensor::zeros({2, 3});
  EXPECT_TRUE(throws_error([&] { matmul(a, Tensor::zeros({2, 3})); }, "inner dimensions"));
  EXPECT_TRUE(throws_error([&] { matmul(Tensor::zeros({2, 3, 4}), a); }, "2-d"));
  EXPECT_TRUE(throws_error([&] { matmul(a, Tensor::zeros({3})); }, "2-d"));
  EXPECT_TRUE(throws_error([&] { matmul(a, Tensor::zeros({3, 2}, DType::I64)); }, "float32"));
  EXPECT_TRUE(throws_error([&] { linear(a, Tensor::zeros({4, 2})); }, "features"));
  EXPECT_TRUE(throws_error([&] { linear(a, Tensor::zeros({4, 3}), Tensor::zeros({3})); }, "bias"));
  EXPECT_TRUE(throws_error([&] { linear(a, Tensor::zeros({4, 3}), Tensor::zeros({1, 4})); }, "bias"));
  EXPECT_TRUE(throws_error([&] { linear(Tensor::zeros({3}), Tensor::zeros({4, 3})); }, "input"));
}

}  // namespace
}  // namespace signet
