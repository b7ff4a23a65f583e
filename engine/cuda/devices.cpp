// runtime.h's answers for every device: the tests' emulated cuda:0 (EmulatedDeviceGuard) is
// served here, from host memory and the harness's kernels; every other device by the build's
// backend (runtime_backend.h).
#include <cstring>
#include <memory>
#include <mutex>

#include "engine/cuda/runtime_backend.h"
#include "engine/error.h"

namespace signet::cuda {
namespace {

struct Emulated {
  std::unique_ptr<CachingAllocator> memory;
  KernelTable table{};
};
std::mutex g_mu;
Emulated* g_emulated = nullptr;

Emulated* emulated(const Device& d) {
  std::lock_guard<std::mutex> lock(g_mu);
  return d.is_cuda() && d.index == 0 ? g_emulated : nullptr;
}

}  // namespace

EmulatedDeviceGuard::EmulatedDeviceGuard(RawMemory memory, const KernelTable& table) {
  std::lock_guard<std::mutex> lock(g_mu);
  SIGNET_CHECK(!g_emulated, "an emulated device is already installed");
  g_emulated = new Emulated{std::make_unique<CachingAllocator>(std::move(memory)), table};
}

EmulatedDeviceGuard::~EmulatedDeviceGuard() {
  std::lock_guard<std::mutex> lock(g_mu);
  delete g_emulated;
  g_emulated = nullptr;
}

void require_usable(const Device& d, const char* what) {
  if (!emulated(d)) backend::require_usable(d, what);
}

void* device_alloc(const Device& d, size_t nbytes) {
  if (Emulated* e = emulated(d)) return e->memory->allocate(nbytes);
  return backend::device_alloc(d, nbytes);
}

void device_free(const Device& d, void* p, size_t nbytes) {
  if (Emulated* e = emulated(d)) return e->memory->free(p, nbytes);
  backend::device_free(d, p, nbytes);
}

DeviceAllocatorStats device_allocator_stats(const Device& d) {
  if (Emulated* e = emulated(d)) return e->memory->stats();
  return backend::device_allocator_stats(d);
}

void copy_bytes(void* dst, const Device& dst_dev, const void* src, const Device& src_dev, size_t n) {
  if (n == 0) return;
  const bool host_or_emulated = (dst_dev.is_cpu() || emulated(dst_dev)) && (src_dev.is_cpu() || emulated(src_dev));
  if (host_or_emulated) {
    std::memcpy(dst, src, n);
    return;
  }
  require_usable(dst_dev, "copying a tensor");
  require_usable(src_dev, "copying a tensor");
  backend::copy_bytes(dst, dst_dev, src, src_dev, n);
}

const KernelTable& kernels(const Device& d) {
  if (Emulated* e = emulated(d)) return e->table;
  return backend::kernels(d);
}

void synchronize(const Device& d) {
  if (!emulated(d) && d.is_cuda()) backend::synchronize(d);
}

}  // namespace signet::cuda
