// The CUDA runtime queries of a build without the CUDA backend (SIGNET_CUDA=OFF or no nvcc);
// CMakeLists.txt leaves this file out when engine/cuda/runtime_cuda.cu is built.
#include <cstring>

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

void* device_alloc(const Device& d, size_t) {
  require_usable(d, "allocating a tensor");
  throw Error(fmt::format("allocating a tensor: device {} is not a CUDA device", d.str()));
}

void device_free(const Device&, void*, size_t) {}

DeviceAllocatorStats device_allocator_stats(const Device&) { return {}; }

void copy_bytes(void* dst, const Device& dst_dev, const void* src, const Device& src_dev, size_t n) {
  require_usable(dst_dev, "copying a tensor");
  require_usable(src_dev, "copying a tensor");
  if (n) std::memcpy(dst, src, n);
}

}  // namespace signet::cuda
