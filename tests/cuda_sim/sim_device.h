// The emulated CUDA device of the tests: cuda:0 backed by host memory, its kernel table the
// launches of engine/cuda/launch_impl.h run on the CPU SIMT harness. While an EmulatedGpu lives,
// ops given cuda:0 tensors take their CUDA path, so device dispatch is tested without a GPU.
#pragma once
#include <cstdlib>

#include "engine/cuda/launch_impl.h"
#include "engine/cuda/runtime.h"

namespace signet::testing {

struct SimLauncher {
  template <class... P, class... A>
  static void launch(void (*kernel)(P...), cuda_kernels::LaunchShape shape, cuda::Stream, A... args) {
    cuda_sim::launch(kernel, dim3(shape.grid), dim3(shape.block), 0, args...);
  }
};

inline const cuda::KernelTable& sim_kernel_table() {
  static const cuda::KernelTable t = cuda::Launches<SimLauncher>::table();
  return t;
}

struct EmulatedGpu {
  cuda::EmulatedDeviceGuard guard{
      cuda::RawMemory{"cuda:0 (emulated)", [](size_t n) { return std::malloc(n); }, [](void* p) { std::free(p); }},
      sim_kernel_table()};
};

}  // namespace signet::testing
