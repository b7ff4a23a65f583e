#include "engine/ops/dropout.h"

#include "engine/cuda/runtime.h"
#include "engine/ops/binary.h"
#include "engine/ops/dispatch.h"

namespace signet {

Tensor dropout(const Tensor& x, float p, bool training, Rng& rng) {
  SIGNET_DISPATCH_CPU_OR_CUDA("dropout", {x});
  SIGNET_CHECK(p >= 0.0f && p < 1.0f, "dropout: probability {} must be in [0, 1)", p);
  if (!training || p == 0.0f) return x;
  if (x.device().is_cuda()) {
    // The device's mask from Philox keyed by one draw of the model's generator (kernels/random.cuh):
    // the same distribution as the CPU's, not the same mask.
    Tensor mask = Tensor::empty(x.shape(), DType::F32, x.device());
    cuda::kernels(x.device()).dropout_mask(mask.device_f32(), rng.next_u64(), 0, 1.0f - p, x.numel(), nullptr);
    return mul(x, mask);
  }
  Tensor mask = Tensor::empty(x.shape());
  const float scale = 1.0f / (1.0f - p);
  float* m = mask.f32();
  // 64 random bits give two 32-bit uniforms: a keep decision each (p resolved to 2^-32).
  const uint64_t threshold = static_cast<uint64_t>(static_cast<double>(p) * 4294967296.0);
  int64_t i = 0;
  const int64_t n = x.numel();
  while (i < n) {
    uint64_t r = rng.next_u64();
    for (int k = 0; k < 2 && i < n; ++k, ++i, r >>= 32)
      m[i] = (r & 0xFFFFFFFFULL) >= threshold ? scale : 0.0f;
  }
  return mul(x, mask);  // mul records the gradient g * mask
}

}  // namespace signet
