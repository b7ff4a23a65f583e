// Our CUDA kernels for training and watermarking (optimizer steps, dropout's generator,
// embedding rows, the LSTM cell, the density key search) on the CPU SIMT harness, against the
// CPU optimizers, ops and references.
#include "engine/cuda/kernels/density.cuh"
#include "engine/cuda/kernels/embedding.cuh"
#include "engine/cuda/kernels/lstm.cuh"
#include "engine/cuda/kernels/optim.cuh"
#include "engine/cuda/kernels/random.cuh"
#include "engine/ops.h"
#include "engine/ops/embedding.h"
#include "engine/ops/lstm.h"
#include "layers/optim.h"
#include "tests/cuda_sim/kernel_test_util.h"
#include "watermark/deepsigns/key_search.h"

namespace signet::testing {
namespace {

// Three steps of the CPU optimizer and of the kernel from the same weights and gradients.
TEST(CudaSimKernels, SgdStepsMatchTheCpuOptimizer) {
  struct Case { float momentum, dampening, wd; bool nesterov; };
  for (const Case c : {Case{0, 0, 0, false}, Case{0.9f, 0, 5e-4f, false}, Case{0.9f, 0, 1e-2f, true},
                       Case{0.5f, 0.1f, 0, false}}) {
    const int64_t n = 1000;
    Tensor p = Tensor::from_vector(random_floats(n, 1), {n});
    std::vector<float> kp = p.to_vector(), buf(n, 0.0f);
    SGD opt({{"w", p}}, SgdOptions{0.05f, c.momentum, c.dampening, c.wd, c.nesterov});
    for (int step = 0; step < 3; ++step) {
      const std::vector<float> g = random_floats(n, 10 + step);
      p.set_grad(Tensor::from_vector(g, {n}));
      opt.step();
      run_kernel(ck::sgd_kernel, ck::elementwise_shape(n), kp.data(), g.data(), buf.data(), 0.05f, c.momentum,
                 c.dampening, c.wd, c.nesterov, step == 0, n);
    }
    EXPECT_TRUE(close_to(kp, p.to_vector(), 1e-7f, 1e-6f)) << "momentum " << c.momentum << " nesterov " << c.nesterov;
  }
}

TEST(CudaSimKernels, AdamAndAdamWStepsMatchTheCpuOptimizer) {
  for (bool decoupled : {false, true}) {
    const int64_t n = 777;
    const AdamOptions o{1e-2f, 0.9f, 0.999f, 1e-8f, 0.01f, decoupled};
    Tensor p = Tensor::from_vector(random_floats(n, 2), {n});
    std::vector<float> kp = p.to_vector(), m(n, 0.0f), v(n, 0.0f);
    Adam opt({{"w", p}}, o);
    for (int step = 1; step <= 3; ++step) {
      const std::vector<float> g = random_floats(n, 20 + step);
      p.set_grad(Tensor::from_vector(g, {n}));
      opt.step();
      // The host-side constants, computed as Adam::step computes them (from the float betas).
      const float bc1 = 1.0f - static_cast<float>(std::pow(static_cast<double>(0.9f), step));
      const float bc2 = 1.0f - static_cast<float>(std::pow(static_cast<double>(0.999f), step));
      run_kernel(ck::adam_kernel, tight_shape(), kp.data(), g.data(), m.data(), v.data(), o.lr, o.beta1, o.beta2,
                 o.eps, o.weight_decay, decoupled, o.lr / bc1, std::sqrt(bc2), n);
    }
    EXPECT_TRUE(close_to(kp, p.to_vector(), 1e-7f, 1e-6f)) << (decoupled ? "adamw" : "adam");
  }
}

TEST(CudaSimKernels, PhiloxMatchesThePublishedKnownAnswers) {
  // Random123's kat_vectors for philox4x32_10: counter and key all zeros, and all ones.
  const ck::Philox4 zero = ck::philox4x32_10(0, 0, 0);
  EXPECT_EQ(zero.w[0], 0x6627e8d5u);
  EXPECT_EQ(zero.w[1], 0xe169c58du);
  EXPECT_EQ(zero.w[2], 0xbc57ac4cu);
  EXPECT_EQ(zero.w[3], 0x9b00dbd8u);
  const ck::Philox4 ones = ck::philox4x32_10(~0ull, ~0ull, ~0ull);
  EXPECT_EQ(ones.w[0], 0x408f276du);
  EXPECT_EQ(ones.w[1], 0x41c83b0eu);
  EXPECT_EQ(ones.w[2], 0xa20bc7c6u);
  EXPECT_EQ(ones.w[3], 0x6d5451fdu);
}

TEST(CudaSimKernels, DropoutMaskIsTheHostsAndKeepsTheRightShare) {
  const int64_t n = 4099;
  const float keep = 0.7f;
  std::vector<float> mask(n, -1.0f), tight(n, -1.0f);
  run_kernel(ck::dropout_mask_kernel, ck::elementwise_shape(n), mask.data(), uint64_t{42}, uint64_t{3}, keep, n);
  run_kernel(ck::dropout_mask_kernel, tight_shape(), tight.data(), uint64_t{42}, uint64_t{3}, keep, n);
  int64_t kept = 0;
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_EQ(mask[i], ck::dropout_mask_value(42, 3, i, keep)) << i;
    ASSERT_TRUE(mask[i] == 0.0f || mask[i] == 1.0f / keep) << i;
    kept += mask[i] != 0.0f;
  }
  EXPECT_EQ(mask, tight);  // the mask depends on (seed, offset, i), not on the launch shape
  // Binomial(4099, 0.7): sd ~ 29; 5 sd either side.
  EXPECT_NEAR(static_cast<double>(kept), keep * n, 150.0);
  std::vector<float> other(n);
  run_kernel(ck::dropout_mask_kernel, ck::elementwise_shape(n), other.data(), uint64_t{42}, uint64_t{4}, keep, n);
  EXPECT_NE(mask, other);  // a new offset, a new mask
}

TEST(CudaSimKernels, EmbeddingGatherAndScatterAddMatchTheOp) {
  const int64_t V = 50, D = 33;
  const std::vector<int64_t> ids = {3, 0, 49, 3, 17, 3, 8};
  const int64_t P = static_cast<int64_t>(ids.size());
  Tensor w = Tensor::from_vector(random_floats(V * D, 5), {V, D});
  w.set_requires_grad(true);
  Tensor out = embedding(w, Tensor::from_vector_i64(ids, {P}));
  const std::vector<float> g = random_floats(P * D, 6);
  out.backward(Tensor::from_vector(g, {P, D}));

  std::vector<float> got(P * D, -1.0f), gw(V * D, 0.0f);
  const std::vector<float> wv = w.to_vector();
  unsigned long long bad = 0;
  run_kernel(ck::embedding_gather_kernel, ck::elementwise_shape(P * D), wv.data(), ids.data(), got.data(), P, D, V,
             &bad);
  EXPECT_EQ(bad, 0u);
  EXPECT_TRUE(close_to(got, out.to_vector(), 0, 0));
  run_kernel(ck::embedding_scatter_add_kernel, ck::elementwise_shape(P * D), g.data(), ids.data(), gw.data(), P, D, V);
  EXPECT_TRUE(close_to(gw, w.grad().to_vector(), 1e-6f, 1e-6f));  // id 3 three times: sums in another order

  const std::vector<int64_t> wrong = {1, 50, -2, 4};
  std::vector<float> o4(4 * D);
  run_kernel(ck::embedding_gather_kernel, ck::elementwise_shape(4 * D), wv.data(), wrong.data(), o4.data(),
             int64_t{4}, D, V, &bad);
  EXPECT_EQ(bad, 3u);  // P - p for the first bad position, p = 1
  EXPECT_TRUE(std::isnan(o4[D]) && std::isnan(o4[2 * D]) && o4[0] == wv[D]);
}

TEST(CudaSimKernels, LstmCellForwardAndBackwardMatchTheCpuReference) {
  for (const auto& [B, H] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {3, 33}, {64, 100}}) {
    const std::vector<float> gates = random_floats(B * 4 * H, 51), c_prev = random_floats(B * H, 52);
    const std::vector<float> gh = random_floats(B * H, 53), gc = random_floats(B * H, 54);
    std::vector<float> h(B * H), c(B * H), act(B * 4 * H), rh(B * H), rc(B * H), ract(B * 4 * H);
    cpu::lstm_cell_forward_ref(B, H, {gates.data(), 4 * H}, {c_prev.data(), H}, {rh.data(), H}, {rc.data(), H},
                               {ract.data(), 4 * H});
    run_kernel(ck::lstm_cell_forward_kernel, ck::elementwise_shape(B * H), gates.data(), c_prev.data(), act.data(),
               h.data(), c.data(), B, H);
    EXPECT_TRUE(close_to(h, rh, 1e-6f, 1e-5f)) << B << "x" << H;
    EXPECT_TRUE(close_to(c, rc, 1e-6f, 1e-5f)) << B << "x" << H;
    EXPECT_TRUE(close_to(act, ract, 1e-6f, 1e-5f)) << B << "x" << H;

    std::vector<float> dg(B * 4 * H), dcp(B * H), rdg(B * 4 * H), rdcp(B * H);
    cpu::lstm_cell_backward_ref(B, H, {ract.data(), 4 * H}, {c_prev.data(), H}, {rc.data(), H}, {gh.data(), H},
                                {gc.data(), H}, {rdg.data(), 4 * H}, {rdcp.data(), H});
    run_kernel(ck::lstm_cell_backward_kernel, tight_shape(), act.data(), c_prev.data(), c.data(), gh.data(), gc.data(),
               dg.data(), dcp.data(), B, H);
    EXPECT_TRUE(close_to(dg, rdg, 1e-6f, 1e-5f)) << B << "x" << H;
    EXPECT_TRUE(close_to(dcp, rdcp, 1e-6f, 1e-5f)) << B << "x" << H;
  }
}

TEST(CudaSimKernels, DensityCountsMatchTheCpuReference) {
  const int64_t n = 9, N = 700, P = 10;
  const std::vector<float> Q = random_floats(n * P, 61, -1.0f, 1.0f), X = random_floats(N * P, 62, -1.0f, 1.0f);
  for (float eps : {0.0f, 1.0f, 1.6f, 10.0f}) {
    std::vector<int64_t> ref(n), got(n, -1);
    cpu::density_counts_ref(Q.data(), n, X.data(), N, P, eps, ref.data());
    run_kernel(ck::density_counts_kernel, ck::row_shape(n), Q.data(), n, X.data(), N, P, eps, got.data());
    EXPECT_EQ(got, ref) << "eps " << eps;
  }
}

}  // namespace
}  // namespace signet::testing
