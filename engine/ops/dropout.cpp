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
  cpu::dropout_mask(mask.f32(), x.numel(), p, rng);
  return mul(x, mask);  // mul records the gradient g * mask
}

}  // namespace signet
