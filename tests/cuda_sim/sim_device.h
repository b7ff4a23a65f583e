// The emulated CUDA device of the tests: cuda:0 backed by host memory, its kernel table the
// launches of engine/cuda/launch_impl.h run on the CPU SIMT harness. While an EmulatedGpu lives,
// ops given cuda:0 tensors take their CUDA path, so device dispatch is tested without a GPU.
#pragma once
#include <cstdlib>

#include "engine/cuda/launch_impl.h"
#include "engine/cuda/runtime.h"
#include "engine/ops/conv2d.h"
#include "engine/ops/matmul.h"

namespace signet::testing {

struct SimLauncher {
  template <class... P, class... A>
  static void launch(void (*kernel)(P...), cuda_kernels::LaunchShape shape, cuda::Stream, A... args) {
    cuda_sim::launch(kernel, dim3(shape.grid), dim3(shape.block), 0, args...);
  }
};

// cuBLAS's place on the emulated device: the plain-loop reference GEMM.
inline void sim_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                     const float* B, int64_t ldb, float beta, float* C, int64_t ldc, cuda::Stream) {
  cpu::gemm_ref(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

// cuDNN's place: the plain-loop convolution references.
inline Conv2dGeom conv_geom(const cuda::ConvGeometry& g) {
  return {g.N, g.C, g.H, g.W, g.O, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.Ho, g.Wo};
}
inline void sim_conv2d_forward(const cuda::ConvGeometry& g, const float* x, const float* w, const float* bias, float* y,
                               cuda::Stream) {
  cpu::conv2d_ref(conv_geom(g), x, w, bias, y);
}
inline void sim_conv2d_backward_input(const cuda::ConvGeometry& g, const float* dy, const float* w, float* dx,
                                      cuda::Stream) {
  cpu::conv2d_backward_input_ref(conv_geom(g), dy, w, dx);
}
inline void sim_conv2d_backward_weight(const cuda::ConvGeometry& g, const float* dy, const float* x, float* dw,
                                       cuda::Stream) {
  cpu::conv2d_backward_weight_ref(conv_geom(g), dy, x, dw);
}

inline const cuda::KernelTable& sim_kernel_table() {
  static const cuda::KernelTable t = [] {
    cuda::KernelTable k = cuda::Launches<SimLauncher>::table();
    k.gemm = sim_gemm;
    k.conv2d_forward = sim_conv2d_forward;
    k.conv2d_backward_input = sim_conv2d_backward_input;
    k.conv2d_backward_weight = sim_conv2d_backward_weight;
    return k;
  }();
  return t;
}

struct EmulatedGpu {
  cuda::EmulatedDeviceGuard guard{
      cuda::RawMemory{"cuda:0 (emulated)", [](size_t n) { return std::malloc(n); }, [](void* p) { std::free(p); }},
      sim_kernel_table()};
};

}  // namespace signet::testing
