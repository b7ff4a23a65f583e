// The CUDA runtime queries of a build with the CUDA backend.
#include <fmt/format.h>

#include "engine/cuda/check.cuh"
#include "engine/cuda/runtime.h"

namespace signet::cuda {

CudaAvailability cuda_availability() {
  CudaAvailability a;
  a.compiled = true;
  int rt = 0;
  if (cudaRuntimeGetVersion(&rt) == cudaSuccess) a.runtime_version = fmt::format("{}.{}", rt / 1000, (rt % 1000) / 10);
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    a.why_none = fmt::format("the CUDA driver reports no usable GPU: {} ({})", cudaGetErrorString(e),
                             cudaGetErrorName(e));
    cudaGetLastError();  // clear it, so it does not surface at an unrelated later call
    return a;
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, i) != cudaSuccess) {
      cudaGetLastError();
      continue;
    }
    a.gpus.push_back({i, p.name, p.major, p.minor, static_cast<long long>(p.totalGlobalMem), p.multiProcessorCount});
  }
  if (a.gpus.empty()) a.why_none = "the CUDA driver found no GPU";
  return a;
}

void require_usable(const Device& d, const char* what) {
  if (d.is_cpu()) return;
  const CudaAvailability a = cuda_availability();
  if (a.gpus.empty()) throw Error(fmt::format("{}: device {} is not available: {}", what, d.str(), a.why_none));
  if (d.index < 0 || d.index >= static_cast<int>(a.gpus.size()))
    throw Error(fmt::format("{}: device {} does not exist: this machine has {} GPU(s), cuda:0 to cuda:{}", what,
                            d.str(), a.gpus.size(), a.gpus.size() - 1));
}

}  // namespace signet::cuda
