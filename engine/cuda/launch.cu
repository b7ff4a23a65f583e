// The GPU's kernel table: the launches of launch_impl.h started with <<<>>>, every launch checked,
// and cuBLAS and cuDNN for GEMM and convolutions.
#include "engine/cuda/libraries.h"
#include "engine/cuda/check.cuh"
#include "engine/cuda/launch_impl.h"
#include "engine/cuda/runtime_backend.h"

namespace signet::cuda {
namespace {

struct CudaLauncher {
  template <class... P, class... A>
  static void launch(void (*kernel)(P...), cuda_kernels::LaunchShape shape, Stream s, A... args) {
    // No stream given: the current GPU's compute stream (runtime_cuda.cu).
    const cudaStream_t stream = static_cast<cudaStream_t>(s ? s : backend::current_stream());
    kernel<<<shape.grid, shape.block, 0, stream>>>(args...);
    SIGNET_CUDA_CHECK(cudaPeekAtLastError());
  }
};

}  // namespace

const KernelTable& gpu_kernel_table() {
  static const KernelTable t = [] {
    KernelTable k = Launches<CudaLauncher>::table();
    k.gemm = cublas_gemm;
    k.conv2d_forward = cudnn_conv2d_forward;
    k.conv2d_backward_input = cudnn_conv2d_backward_input;
    k.conv2d_backward_weight = cudnn_conv2d_backward_weight;
    return k;
  }();
  return t;
}

}  // namespace signet::cuda
