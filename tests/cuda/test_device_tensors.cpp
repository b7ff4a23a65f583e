// Tensors on a real GPU: .to() there and back, host access refused, the caching allocator
// serving a repeated step without asking the device again. Skipped without a usable GPU.
#include <gtest/gtest.h>

#include "engine/cuda/runtime.h"
#include "engine/ops.h"
#include "engine/rng.h"
#include "engine/tensor.h"
#include "tests/cuda_sim/compare.h"
#include "tests/engine/gradcheck.h"

namespace signet {
namespace {

Tensor random_tensor(const Shape& shape, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
  for (float& x : v) x = rng.uniform(-1.0f, 1.0f);
  return Tensor::from_vector(v, shape);
}

#define SKIP_WITHOUT_GPU()                                                              \
  do {                                                                                  \
    static const cuda::CudaAvailability a = cuda::cuda_availability();                  \
    if (a.gpus.empty()) GTEST_SKIP() << "no usable GPU: " << a.why_none;                \
  } while (0)

TEST(CudaTensors, ToTheGpuAndBackIsExactAndHostAccessIsRefused) {
  SKIP_WITHOUT_GPU();
  const Tensor x = random_tensor({37, 53}, 1);
  const Tensor g = x.to(Device::cuda(0));
  EXPECT_EQ(g.device(), Device::cuda(0));
  EXPECT_EQ(g.shape(), x.shape());
  EXPECT_TRUE(test::throws_error([&] { g.f32(); }, "host code asked for the data of a tensor on cuda:0"));
  EXPECT_EQ(g.to(Device::cpu()).to_vector(), x.to_vector());
  const Tensor ids = Tensor::from_vector_i64({3, -1, 7}, {3});
  EXPECT_EQ(ids.to(Device::cuda(0)).to(Device::cpu()).to_vector_i64(), ids.to_vector_i64());
  // A non-contiguous CPU view goes as its values.
  const Tensor t = x.transpose_view(0, 1);
  EXPECT_EQ(t.to(Device::cuda(0)).to(Device::cpu()).to_vector(), t.to_vector());
}

TEST(CudaTensors, ARepeatedStepAllocatesNothingNewOnTheDevice) {
  SKIP_WITHOUT_GPU();
  const Tensor host = random_tensor({256, 1024}, 2);
  for (int step = 0; step < 2; ++step) Tensor g = host.to(Device::cuda(0));
  const size_t before = cuda::device_allocator_stats(Device::cuda(0)).device_allocs;
  for (int step = 0; step < 5; ++step) Tensor g = host.to(Device::cuda(0));
  EXPECT_EQ(cuda::device_allocator_stats(Device::cuda(0)).device_allocs, before);
}

// cuBLAS against our CPU GEMM, row-major operands and transpose views, a linear layer with its
// bias, and the gradients of a small loss through it (default seed on the device).
TEST(CudaTensors, MatrixProductsThroughCublasMatchTheCpu) {
  SKIP_WITHOUT_GPU();
  const Device gpu = Device::cuda(0);
  const Tensor a = random_tensor({129, 257}, 3), b = random_tensor({257, 65}, 4), w = random_tensor({65, 257}, 5);
  const Tensor bias = random_tensor({65}, 6);
  auto same = [](const Tensor& got, const Tensor& want) {
    EXPECT_EQ(got.device(), Device::cuda(0));
    return testing::close_to(got.to(Device::cpu()).to_vector(), want.to_vector(), 1e-4f, 1e-4f);
  };
  EXPECT_TRUE(same(matmul(a.to(gpu), b.to(gpu)), matmul(a, b)));
  EXPECT_TRUE(same(matmul(a.to(gpu), w.to(gpu).transpose_view(0, 1)), matmul(a, w.transpose_view(0, 1))));
  EXPECT_TRUE(same(matmul(b.to(gpu).transpose_view(0, 1), a.to(gpu).transpose_view(0, 1)),
                   matmul(b.transpose_view(0, 1), a.transpose_view(0, 1))));
  EXPECT_TRUE(same(linear(a.to(gpu), w.to(gpu), bias.to(gpu)), linear(a, w, bias)));
  auto grad_of_w = [&](const Device& d) {
    Tensor wd = w.to(d).clone();
    wd.set_requires_grad(true);
    cross_entropy(linear(a.to(d), wd, bias.to(d)), Tensor::zeros({129}, DType::I64, d)).backward();
    return wd.grad();
  };
  EXPECT_TRUE(same(grad_of_w(gpu), grad_of_w(Device::cpu())));
}

// cuDNN's convolutions and our pooling kernels against the CPU: forward, both gradients and the
// bias gradient, with padding and stride 2.
TEST(CudaTensors, ConvolutionsThroughCudnnAndMaxPoolingMatchTheCpu) {
  SKIP_WITHOUT_GPU();
  const Tensor x = random_tensor({4, 3, 17, 15}, 7), w = random_tensor({8, 3, 3, 3}, 8), b = random_tensor({8}, 9);
  for (int64_t stride : {1, 2}) {
    auto run = [&](const Device& d) {
      Tensor xd = x.to(d).clone(), wd = w.to(d).clone(), bd = b.to(d).clone();
      for (Tensor* t : {&xd, &wd, &bd}) t->set_requires_grad(true);
      const Tensor y = max_pool2d(relu(conv2d(xd, wd, bd, stride, 1)), 2);
      (y * y).backward(Tensor::ones(y.shape(), d));
      std::vector<float> out = y.to_vector();
      for (const Tensor& t : {xd.grad(), wd.grad(), bd.grad()}) {
        const std::vector<float> v = t.to_vector();
        out.insert(out.end(), v.begin(), v.end());
      }
      return out;
    };
    EXPECT_TRUE(testing::close_to(run(Device::cuda(0)), run(Device::cpu()), 1e-3f, 1e-3f)) << "stride " << stride;
  }
}

}  // namespace
}  // namespace signet
