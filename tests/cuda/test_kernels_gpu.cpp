// Our CUDA kernels on a real GPU, through the launch functions the engine calls
// (the GPU's engine/cuda/kernel_table.h), against the same CPU references as the SIMT harness tests
// (tests/cuda_sim/). Label `cuda`: every test skips itself when no GPU is usable, so CI (no GPU)
// builds and links this file and reports the skips; scripts/gpu_check.sh runs it on a GPU.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "engine/cuda/check.cuh"
#include "engine/cuda/kernels/philox.h"
#include "engine/cuda/kernel_table.h"
#include "engine/cuda/runtime.h"
#include "engine/ops.h"
#include "engine/ops/loss.h"
#include "engine/ops/lstm.h"
#include "engine/ops/reduce.h"
#include "engine/ops/softmax.h"
#include "engine/ops/unary.h"
#include "layers/optim.h"
#include "tests/cuda_sim/compare.h"
#include "watermark/deepsigns/key_search.h"

namespace signet::testing {
namespace {

#define SKIP_WITHOUT_GPU()                                                                     \
  do {                                                                                         \
    static const cuda::CudaAvailability a = cuda::cuda_availability();                         \
    if (a.gpus.empty()) GTEST_SKIP() << "no usable GPU: " << a.why_none;                       \
  } while (0)

// A device copy of a host vector; download() brings it back after the device is synchronised.
template <class T>
struct DeviceBuffer {
  T* p = nullptr;
  size_t n = 0;
  explicit DeviceBuffer(const std::vector<T>& host) : n(host.size()) {
    SIGNET_CUDA_CHECK(cudaMalloc(&p, std::max<size_t>(n, 1) * sizeof(T)));
    if (n) SIGNET_CUDA_CHECK(cudaMemcpy(p, host.data(), n * sizeof(T), cudaMemcpyHostToDevice));
    // The kernels run on the device's own non-blocking stream, which does not wait for this copy.
    SIGNET_CUDA_CHECK(cudaDeviceSynchronize());
  }
  explicit DeviceBuffer(size_t count) : DeviceBuffer(std::vector<T>(count)) {}
  ~DeviceBuffer() { cudaFree(p); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  std::vector<T> download() const {
    SIGNET_CUDA_CHECK(cudaDeviceSynchronize());
    std::vector<T> h(n);
    if (n) SIGNET_CUDA_CHECK(cudaMemcpy(h.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost));
    return h;
  }
};

const cuda::KernelTable& gpu() { return cuda::kernels(Device::cuda(0)); }

// Large sizes too: the grid-stride loops run past the kMaxBlocks grid on a GPU.
const std::vector<int64_t> kSizes = {1, 1000, 2049, 3 << 20};

TEST(CudaKernels, UnaryAndReluGrad) {
  SKIP_WITHOUT_GPU();
  for (int64_t n : kSizes) {
    for (int op = 0; op <= static_cast<int>(cuda::Unary::Log); ++op) {
      const bool log = op == static_cast<int>(cuda::Unary::Log);
      const std::vector<float> x = random_floats(n, 7, log ? 0.01f : -4.0f, 4.0f);
      std::vector<float> ref(n);
      cpu::unary_ref(static_cast<UnaryOp>(op), x.data(), ref.data(), n);
      DeviceBuffer<float> dx(x), dy(static_cast<size_t>(n));
      gpu().unary(static_cast<cuda::Unary>(op), dx.p, dy.p, n, nullptr);
      EXPECT_TRUE(close_to(dy.download(), ref, 1e-6f, 2e-6f)) << "op " << op << " n " << n;
    }
  }
}

TEST(CudaKernels, SumsAndSoftmax) {
  SKIP_WITHOUT_GPU();
  for (const auto& [outer, n, inner] : std::vector<std::array<int64_t, 3>>{{1, 1 << 20, 1}, {300, 1000, 1}, {3, 33, 700}}) {
    const std::vector<float> x = random_floats(outer * n * inner, 11);
    std::vector<float> ref(outer * inner), sref(x.size());
    cpu::sum_middle_ref(x.data(), ref.data(), outer, n, inner);
    cpu::softmax_ref(x.data(), sref.data(), outer, n, inner, true);
    DeviceBuffer<float> dx(x), dout(ref.size()), dsm(x.size());
    gpu().sum_middle(dx.p, dout.p, outer, n, inner, nullptr);
    gpu().softmax(dx.p, dsm.p, outer, n, inner, true, nullptr);
    EXPECT_TRUE(close_to(dout.download(), ref, 1e-3f, 1e-4f)) << outer << "x" << n << "x" << inner;
    EXPECT_TRUE(close_to(dsm.download(), sref, 1e-5f, 1e-5f)) << outer << "x" << n << "x" << inner;
  }
}

TEST(CudaKernels, CrossEntropyAndAdam) {
  SKIP_WITHOUT_GPU();
  const int64_t N = 512, C = 10;
  const std::vector<float> x = random_floats(N * C, 31);
  std::vector<int64_t> t(N);
  for (int64_t r = 0; r < N; ++r) t[r] = r % C;
  DeviceBuffer<float> dx(x), dloss(static_cast<size_t>(N)), dgrad(static_cast<size_t>(N * C));
  DeviceBuffer<int64_t> dt(t);
  DeviceBuffer<unsigned long long> bad(std::vector<unsigned long long>{0});
  gpu().cross_entropy(dx.p, dt.p, dloss.p, dgrad.p, 1.0f / N, N, C, bad.p, nullptr);
  double sum = 0;
  for (float l : dloss.download()) sum += l;
  EXPECT_NEAR(sum, cpu::cross_entropy_sum_ref(x.data(), t.data(), N, C), 1e-3);
  EXPECT_EQ(bad.download()[0], 0u);

  const int64_t n = 100003;
  Tensor p = Tensor::from_vector(random_floats(n, 1), {n});
  DeviceBuffer<float> dp(p.to_vector()), m(static_cast<size_t>(n)), v(static_cast<size_t>(n));
  Adam opt({{"w", p}}, AdamOptions{1e-2f, 0.9f, 0.999f, 1e-8f, 0.01f, true});
  for (int step = 1; step <= 3; ++step) {
    const std::vector<float> g = random_floats(n, 20 + step);
    p.set_grad(Tensor::from_vector(g, {n}));
    opt.step();
    DeviceBuffer<float> dg(g);
    const float bc1 = 1.0f - static_cast<float>(std::pow(static_cast<double>(0.9f), step)), bc2 = 1.0f - static_cast<float>(std::pow(static_cast<double>(0.999f), step));
    gpu().adam_step(dp.p, dg.p, m.p, v.p, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.01f, true, 1e-2f / bc1, std::sqrt(bc2), n,
                    nullptr);
    SIGNET_CUDA_CHECK(cudaDeviceSynchronize());
  }
  EXPECT_TRUE(close_to(dp.download(), p.to_vector(), 1e-6f, 1e-5f));
}

TEST(CudaKernels, DropoutLstmAndDensity) {
  SKIP_WITHOUT_GPU();
  const int64_t n = (1 << 20) + 5;
  DeviceBuffer<float> mask(static_cast<size_t>(n));
  gpu().dropout_mask(mask.p, 42, 3, 0.7f, n, nullptr);
  const std::vector<float> m = mask.download();
  for (int64_t i = 0; i < n; i += 997) ASSERT_EQ(m[i], cuda_kernels::dropout_mask_value(42, 3, i, 0.7f)) << i;

  const int64_t B = 64, H = 100;
  const std::vector<float> gates = random_floats(B * 4 * H, 51), c_prev = random_floats(B * H, 52);
  std::vector<float> rh(B * H), rc(B * H), ract(B * 4 * H);
  cpu::lstm_cell_forward_ref(B, H, {gates.data(), 4 * H}, {c_prev.data(), H}, {rh.data(), H}, {rc.data(), H},
                             {ract.data(), 4 * H});
  DeviceBuffer<float> dgates(gates), dcp(c_prev), dact(ract.size()), dh(rh.size()), dc(rc.size());
  gpu().lstm_cell_forward(dgates.p, dcp.p, dact.p, dh.p, dc.p, B, H, nullptr);
  EXPECT_TRUE(close_to(dh.download(), rh, 1e-6f, 1e-5f));

  const int64_t q = 50, N = 20000, P = 10;
  const std::vector<float> Q = random_floats(q * P, 61, -1, 1), X = random_floats(N * P, 62, -1, 1);
  std::vector<int64_t> ref(q);
  cpu::density_counts_ref(Q.data(), q, X.data(), N, P, 1.2f, ref.data());
  DeviceBuffer<float> dQ(Q), dX(X);
  DeviceBuffer<int64_t> counts(static_cast<size_t>(q));
  gpu().density_counts(dQ.p, q, dX.p, N, P, 1.2f, counts.p, nullptr);
  EXPECT_EQ(counts.download(), ref);
}

}  // namespace
}  // namespace signet::testing
