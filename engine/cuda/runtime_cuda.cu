// The CUDA runtime queries of a build with the CUDA backend.
#include <fmt/format.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "engine/cuda/check.cuh"
#include "engine/cuda/runtime_backend.h"

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

namespace backend {

void require_usable(const Device& d, const char* what) {
  if (d.is_cpu()) return;
  const CudaAvailability a = cuda_availability();
  if (a.gpus.empty()) throw Error(fmt::format("{}: device {} is not available: {}", what, d.str(), a.why_none));
  if (d.index < 0 || d.index >= static_cast<int>(a.gpus.size()))
    throw Error(fmt::format("{}: device {} does not exist: this machine has {} GPU(s), cuda:0 to cuda:{}", what,
                            d.str(), a.gpus.size(), a.gpus.size() - 1));
}

namespace {

// One caching allocator per GPU, made at its first use and kept for the life of the process
// (tensors in static objects may be freed after main returns).
std::mutex g_allocators_mu;
std::vector<std::unique_ptr<CachingAllocator>>* g_allocators = new std::vector<std::unique_ptr<CachingAllocator>>();

// One compute stream per GPU (non-blocking: it does not wait for the legacy default stream).
// Every kernel, cuBLAS and cuDNN call of the device runs on it in issue order, so a block the
// caching allocator hands back out is only touched after the work that freed it. Made with the
// allocator, never destroyed (see the allocators).
constexpr int kMaxGpus = 64;
std::atomic<cudaStream_t> g_streams[kMaxGpus];
std::atomic<bool> g_ready[kMaxGpus];

CachingAllocator& allocator_for(const Device& d) {
  std::lock_guard<std::mutex> lock(g_allocators_mu);
  auto& all = *g_allocators;
  if (static_cast<size_t>(d.index) < all.size() && all[d.index]) return *all[d.index];
  require_usable(d, "allocating a tensor");
  if (all.size() <= static_cast<size_t>(d.index)) all.resize(d.index + 1);
  const int index = d.index;
  RawMemory raw{d.str(),
                [index](size_t n) -> void* {
                  SIGNET_CUDA_CHECK(cudaSetDevice(index));
                  void* p = nullptr;
                  const cudaError_t e = cudaMalloc(&p, n);
                  if (e == cudaErrorMemoryAllocation) {
                    cudaGetLastError();
                    return nullptr;
                  }
                  SIGNET_CUDA_CHECK(e);
                  return p;
                },
                [index](void* p) {
                  cudaSetDevice(index);
                  cudaFree(p);
                }};
  all[d.index] = std::make_unique<CachingAllocator>(std::move(raw));
  SIGNET_CHECK(d.index < kMaxGpus, "{}: more GPUs than this build handles ({})", d.str(), kMaxGpus);
  SIGNET_CUDA_CHECK(cudaSetDevice(d.index));
  cudaStream_t stream = nullptr;
  SIGNET_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  g_streams[d.index] = stream;
  g_ready[d.index] = true;
  return *all[d.index];
}

// Makes d current (checking it once per process).
void make_current(const Device& d) {
  if (d.index < 0 || d.index >= kMaxGpus || !g_ready[d.index]) allocator_for(d);
  int current = -1;
  SIGNET_CUDA_CHECK(cudaGetDevice(&current));
  if (current != d.index) SIGNET_CUDA_CHECK(cudaSetDevice(d.index));
}

cudaStream_t stream_of(const Device& d) {
  make_current(d);
  return g_streams[d.index];
}

}  // namespace

void* device_alloc(const Device& d, size_t nbytes) { return allocator_for(d).allocate(nbytes); }

void device_free(const Device& d, void* p, size_t nbytes) {
  if (p) allocator_for(d).free(p, nbytes);
}

DeviceAllocatorStats device_allocator_stats(const Device& d) {
  {
    std::lock_guard<std::mutex> lock(g_allocators_mu);
    if (d.is_cpu() || static_cast<size_t>(d.index) >= g_allocators->size() || !(*g_allocators)[d.index]) return {};
  }
  return allocator_for(d).stats();
}

void copy_bytes(void* dst, const Device& dst_dev, const void* src, const Device& src_dev, size_t n) {
  if (!n) return;
  // Unified addressing: the runtime knows where each pointer lives. The copy runs on the stream of
  // the GPU involved (the destination's when both are GPUs, after the source's stream is done),
  // and returns when it is complete, as a host side must not be reused before.
  if (src_dev.is_cuda() && dst_dev.is_cuda() && src_dev != dst_dev)
    SIGNET_CUDA_CHECK(cudaStreamSynchronize(stream_of(src_dev)));
  const cudaStream_t s = stream_of(dst_dev.is_cuda() ? dst_dev : src_dev);
  SIGNET_CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyDefault, s));
  if (!(src_dev.is_cuda() && dst_dev == src_dev)) SIGNET_CUDA_CHECK(cudaStreamSynchronize(s));
}

const KernelTable& kernels(const Device& d) {
  make_current(d);
  return gpu_kernel_table();
}

void synchronize(const Device& d) {
  SIGNET_CUDA_CHECK(cudaStreamSynchronize(stream_of(d)));
}

void* current_stream() {
  int current = 0;
  SIGNET_CUDA_CHECK(cudaGetDevice(&current));
  return stream_of(Device::cuda(current));
}

}  // namespace backend
}  // namespace signet::cuda
