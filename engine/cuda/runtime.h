// What this build and this machine offer for CUDA: whether the backend was compiled in, and the
// GPUs the driver reports. Without a GPU (or without a driver) the answer says why, so a
// command asked for `--device cuda` can fail with a message instead of a crash.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "engine/cuda/caching_allocator.h"
#include "engine/cuda/kernel_table.h"
#include "engine/device.h"

namespace signet::cuda {

struct GpuInfo {
  int index = 0;
  std::string name;
  int major = 0, minor = 0;          // compute capability
  long long memory_bytes = 0;
  int multiprocessors = 0;
};

struct CudaAvailability {
  bool compiled = false;             // the build has the CUDA backend (SIGNET_CUDA found nvcc)
  std::string runtime_version;       // e.g. "13.0" (empty when not compiled)
  std::vector<GpuInfo> gpus;         // empty when none is usable
  std::string why_none;              // when gpus is empty: the driver's or the build's reason
};

CudaAvailability cuda_availability();

// Throws Error naming the reason when `d` is a CUDA device this process cannot use.
void require_usable(const Device& d, const char* what);

// Memory of a CUDA device for tensors (engine/tensor.cpp's Storage), from the device's caching
// allocator; an Error naming the reason when the device cannot be used or is full.
void* device_alloc(const Device& d, size_t nbytes);
void device_free(const Device& d, void* p, size_t nbytes);
DeviceAllocatorStats device_allocator_stats(const Device& d);  // zeros for a device never used
// n bytes from src (on src_dev) to dst (on dst_dev), any pair of devices; returns when done.
void copy_bytes(void* dst, const Device& dst_dev, const void* src, const Device& src_dev, size_t n);
// The kernels of a CUDA device (an Error naming the reason when it cannot be used).
const KernelTable& kernels(const Device& d);
// Waits until the device has finished everything launched on it (errors inside kernels show here).
void synchronize(const Device& d);

// Tests only: while a guard lives, cuda:0 is an emulated device whose memory is `memory` (host
// memory) and whose kernels are `table` (the CPU SIMT harness's launches of our kernels), so the
// device dispatch of the ops runs, and is tested, where there is no GPU. One at a time.
class EmulatedDeviceGuard {
 public:
  EmulatedDeviceGuard(RawMemory memory, const KernelTable& table);
  ~EmulatedDeviceGuard();
  EmulatedDeviceGuard(const EmulatedDeviceGuard&) = delete;
  EmulatedDeviceGuard& operator=(const EmulatedDeviceGuard&) = delete;
};

}  // namespace signet::cuda
