// The CUDA runtime queries of a build without the CUDA backend (SIGNET_CUDA=OFF or no nvcc);
// CMakeLists.txt leaves this file out when engine/cuda/runtime_cuda.cu is built.
#include "engine/cuda/runtime.h"

#include "engine/error.h"

namespace signet::cuda {

CudaAvailability cuda_availability() {
  CudaAvailability a;
  a.why_none = "this signet was built without the CUDA backend (SIGNET_CUDA=OFF, or no nvcc when it was built)";
  return a;
}

void require_usable(const Device& d, const char* what) {
  if (d.is_cpu()) return;
  throw Error(fmt::format("{}: device {} is not available: {}", what, d.str(), cuda_availability().why_none));
}

}  // namespace signet::cuda
