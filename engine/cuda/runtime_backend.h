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
void copy_bytes(void* dst, const void* src, size_t n);  // between any two devices
const KernelTable& kernels(const Device& d);
void synchronize(const Device& d);

}  // namespace signet::cuda::backend
