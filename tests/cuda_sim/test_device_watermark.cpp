// The watermark ops on a device, against their CPU kernels: the DeepSigns hidden-layer
// regularizer (value, its parts, the gradients of the activations and the centres; with pairs of
// centres under and over the margin, and a batch without any chosen-class sample) and the density
// counts of the key search.
#include <gtest/gtest.h>

#include "engine/rng.h"
#include "tests/cuda_sim/compare.h"
#include "tests/cuda_sim/sim_device.h"
#include "watermark/deepsigns/key_search.h"
#include "watermark/deepsigns/wm_regularizer.h"

namespace signet::testing {
namespace {

const Device kGpu = Device::cuda(0);

Tensor uniform(const Shape& shape, uint64_t seed, float lo, float hi) {
  Rng rng(seed);
  std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
  for (float& x : v) x = rng.uniform(lo, hi);
  return Tensor::from_vector(v, shape);
}

TEST(DeviceWatermark, TheDeepSignsRegularizerOnTheDeviceMatchesTheCpuKernel) {
  EmulatedGpu gpu;
  const int64_t B = 12, M = 7, S = 5, N = 9;
  const std::vector<int64_t> T = {1, 3};
  const Tensor f = uniform({B, M}, 1, -1.0f, 1.0f), mu = uniform({S, M}, 2, -1.0f, 1.0f);
  const Tensor A = uniform({M, N}, 3, -1.0f, 1.0f);
  std::vector<float> bits(T.size() * N);
  for (size_t i = 0; i < bits.size(); ++i) bits[i] = static_cast<float>((i * 7) % 3 == 0);
  const Tensor b = Tensor::from_vector(bits, {static_cast<int64_t>(T.size()), N});
  for (const auto& labels : {std::vector<int64_t>{0, 1, 2, 3, 4, 1, 3, 3, 0, 2, 1, 4}, std::vector<int64_t>(B, 2)}) {
    const Tensor y = Tensor::from_vector_i64(labels, {B});
    for (float margin : {0.0f, 1.0f}) {  // uncapped; capped (some pairs are farther than 1 apart)
      auto run = [&](const Device& d) {
        Tensor fd = d.is_cpu() ? f.clone() : f.to(d), mud = d.is_cpu() ? mu.clone() : mu.to(d);
        fd.set_requires_grad(true);
        mud.set_requires_grad(true);
        WmRegularizerParts parts;
        const Tensor loss = WM_activity_regularizer(fd, y.to(d), mud, T, A.to(d), b.to(d), 0.3f, 0.7f, margin, &parts);
        EXPECT_EQ(loss.device(), d);
        loss.backward();
        std::vector<float> out = {loss.item(), static_cast<float>(parts.loss1_attract),
                                  static_cast<float>(parts.loss1_separate), static_cast<float>(parts.loss2)};
        for (const Tensor& g : {fd.grad(), mud.grad()}) {
          const std::vector<float> v = g.to_vector();
          out.insert(out.end(), v.begin(), v.end());
        }
        return out;
      };
      EXPECT_TRUE(close_to(run(kGpu), run(Device::cpu()), 1e-5f, 1e-4f)) << "margin " << margin;
    }
  }
}

TEST(DeviceWatermark, CentreTrackingOnTheDeviceMatchesTheCpu) {
  EmulatedGpu gpu;
  const int64_t B = 10, M = 4, S = 5;
  const Tensor f = uniform({B, M}, 6, -1.0f, 2.0f), mu0 = uniform({S, M}, 7, -1.0f, 1.0f);
  const Tensor y = Tensor::from_vector_i64({0, 2, 2, 4, 1, 0, 2, 1, 1, 0}, {B});  // class 3 absent
  const std::vector<bool> chosen = {false, true, false, true, false};
  for (bool nonnegative : {false, true}) {
    Tensor on_cpu = mu0.clone(), on_gpu = mu0.to(kGpu);
    WM_track_other_centres(on_cpu, f, y, chosen, nonnegative);
    WM_track_other_centres(on_gpu, f.to(kGpu), y.to(kGpu), chosen, nonnegative);
    EXPECT_TRUE(close_to(on_gpu.to_vector(), on_cpu.to_vector(), 1e-6f, 1e-5f)) << "nonnegative " << nonnegative;
    EXPECT_NE(on_cpu.to_vector(), mu0.to_vector());  // it moved
  }
}

TEST(DeviceWatermark, DensityCountsOnTheDeviceMatchTheCpu) {
  EmulatedGpu gpu;
  const Tensor q = uniform({37, 6}, 4, -1.0f, 1.0f), x = uniform({200, 6}, 5, -1.0f, 1.0f);
  const Tensor want = density_counts(q, x, 1.2f), got = density_counts(q.to(kGpu), x.to(kGpu), 1.2f);
  EXPECT_EQ(got.device(), kGpu);
  EXPECT_EQ(got.to_vector_i64(), want.to_vector_i64());
}

}  // namespace
}  // namespace signet::testing
