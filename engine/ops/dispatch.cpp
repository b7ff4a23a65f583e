#include "engine/ops/dispatch.h"

#include "engine/cuda/runtime.h"

namespace signet {

Device backend_for(const char* op, std::initializer_list<Tensor> inputs, bool has_cuda_kernel) {
  const Tensor* first = nullptr;
  for (const Tensor& t : inputs) {
    if (!t.defined()) continue;
    if (!first) {
      first = &t;
    } else {
      SIGNET_CHECK(t.device() == first->device(),
                   "{}: inputs are on different devices ({} and {}); move them explicitly with .to()",
                   op, first->device().str(), t.device().str());
    }
  }
  SIGNET_CHECK(first != nullptr, "{}: called with no defined input", op);
  const Device d = first->device();
  if (d.is_cuda() && has_cuda_kernel) {
    cuda::require_usable(d, op);
    return d;
  }
  SIGNET_CHECK(d.is_cpu(), "{}: no kernel for device {} yet: this op runs on the CPU only; move its inputs "
               "with .to(Device::cpu())", op, d.str());
  return d;
}

void require_contiguous_on_device(const char* op, const Tensor& t) {
  SIGNET_CHECK(t.is_contiguous(), "{}: a non-contiguous tensor on {}: this op's device path takes contiguous "
               "inputs; call .contiguous() on it first", op, t.device().str());
}

namespace {
thread_local bool t_reference_kernels = false;
}  // namespace

bool cpu_reference_kernels() { return t_reference_kernels; }
CpuReferenceKernels::CpuReferenceKernels() : before_(t_reference_kernels) { t_reference_kernels = true; }
CpuReferenceKernels::~CpuReferenceKernels() { t_reference_kernels = before_; }

}  // namespace signet
