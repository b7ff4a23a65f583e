// What a build's CUDA runtime (runtime_cuda.cu, or runtime_none.cpp without CUDA) provides to
// engine/cuda/devices.cpp, which answers runtime.h for every device: the emulated one of the
// tests itself, real GPUs through these.
#pragma once
#include <cstddef>

#include "engine/cuda/runtime.h"

namespace signet::cuda::backend {

void require_usable(const Device& d, const char* what);
void* device_alloc(const Device& d, size_t nbytes);
void device_free(const Device& d, void* p, size_t nbytes);
DeviceAllocatorStats device_allocator_stats(const Device& d);
// n bytes between any two devices, at least one a GPU; returns when the host side may be reused.
void copy_bytes(void* dst, const Device& dst_dev, const void* src, const Device& src_dev, size_t n);
const KernelTable& kernels(const Device& d);
void synchronize(const Device& d);
// The compute stream of the current GPU (a cudaStream_t): where a kernel table call given no
// stream runs (engine/cuda/launch.cu, the library calls).
void* current_stream();

}  // namespace signet::cuda::backend
