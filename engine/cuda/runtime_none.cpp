// The CUDA runtime of a build without the CUDA backend (SIGNET_CUDA=OFF or no nvcc): every CUDA
// device is unavailable, and says so. CMakeLists.txt leaves this file out when
// engine/cuda/runtime_cuda.cu is built.
#include "engine/cuda/runtime_backend.h"
#include "engine/error.h"

namespace signet::cuda {

CudaAvailability cuda_availability() {
  CudaAvailability a;
  a.why_none = "this signet was built without the CUDA backend (SIGNET_CUDA=OFF, or no nvcc when it was built)";
  return a;
}

namespace backend {

void require_usable(const Device& d, const char* what) {
  if (d.is_cpu()) return;
  throw Error(fmt::format("{}: device {} is not available: {}", what, d.str(), cuda_availability().why_none));
}

void* device_alloc(const Device& d, size_t) {
  require_usable(d, "allocating a tensor");
  throw Error("allocating a tensor: not a CUDA device");
}

void device_free(const Device&, void*, size_t) {}

DeviceAllocatorStats device_allocator_stats(const Device&) { return {}; }

void copy_bytes(void*, const Device&, const void*, const Device&, size_t) {
  throw Error(fmt::format("copying a tensor: no CUDA device is available: {}", cuda_availability().why_none));
}

const KernelTable& kernels(const Device& d) {
  require_usable(d, "running a kernel");
  throw Error("running a kernel: not a CUDA device");
}

void synchronize(const Device&) {}

}  // namespace backend
}  // namespace signet::cuda
