// NCCL on a real GPU (skipped without one): a one-rank job joins with a fresh id and sums a
// device buffer in place (the sum over one rank is the buffer itself), on the GPU's compute
// stream, so the ops that follow read the result. Two ranks need two GPUs: scripts/gpu_check.sh
// runs the two-rank training wherever the machine has them.
#include <gtest/gtest.h>

#include "engine/cuda/nccl.h"
#include "engine/cuda/runtime.h"
#include "engine/ops.h"
#include "engine/tensor.h"

namespace signet {
namespace {

TEST(Nccl, OneRankJobSumsADeviceBufferInPlace) {
  const cuda::CudaAvailability a = cuda::cuda_availability();
  if (a.gpus.empty()) GTEST_SKIP() << "no usable GPU: " << a.why_none;
  const Device gpu = Device::cuda(0);
  const std::string id = cuda::nccl_new_id();
  EXPECT_EQ(id.size(), 128u);
  std::unique_ptr<cuda::NcclComm> comm = cuda::nccl_join(id, 0, 1, gpu);
  std::vector<float> v(1000003);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i % 977) - 400.0f;
  Tensor t = Tensor::from_vector(v, {static_cast<int64_t>(v.size())}).to(gpu);
  // Queued after an op on the same stream, read by one after it.
  t = mul_scalar(t, 2.0f);
  comm->allreduce_sum(t.device_f32(), t.numel());
  const std::vector<float> got = mul_scalar(t, 0.5f).to(Device::cpu()).to_vector();
  EXPECT_EQ(got, v);
  EXPECT_FALSE(cuda::gpu_identity(gpu).empty());
}

TEST(Nccl, ABadJobIdIsAnError) {
  const cuda::CudaAvailability a = cuda::cuda_availability();
  if (a.gpus.empty()) GTEST_SKIP() << "no usable GPU: " << a.why_none;
  EXPECT_THROW(cuda::nccl_join("short", 0, 1, Device::cuda(0)), Error);
}

}  // namespace
}  // namespace signet
