// The one place where an op chooses its backend. Every op's entry point calls
// `backend_for(op, inputs)`: it checks that all inputs share one device (a mixed call is an
// error: Signet never copies between devices behind the user's back) and returns the device
// whose kernels run. Ops with a CUDA path (SIGNET_DISPATCH_CPU_OR_CUDA) launch the kernels of
// their inputs' device from its table (engine/cuda/kernel_table.h) and allocate their outputs
// there; a CUDA tensor reaching an op without one is an error that names the op.
#pragma once
#include <initializer_list>

#include "engine/profiler.h"
#include "engine/tensor.h"

namespace signet {

Device backend_for(const char* op, std::initializer_list<Tensor> inputs, bool has_cuda_kernel = false);

// An op's entry point: backend_for, the op named as the current one (host access to a device
// tensor's data inside it is an Error naming it), and in profile mode (engine/profiler.h) the op is timed
// from here to the end of the enclosing block, so put it first in the op's own function.
#define SIGNET_DISPATCH(op, ...)                        \
  ::signet::profiler::OpScope signet_profile_op_(op); \
  ::signet::CurrentOp signet_current_op_(op);         \
  ::signet::backend_for(op, __VA_ARGS__)
// The same for an op that also has a CUDA path: CUDA inputs are let through (when their device
// can be used), and the op branches on the device it then reads from its inputs.
#define SIGNET_DISPATCH_CPU_OR_CUDA(op, ...)            \
  ::signet::profiler::OpScope signet_profile_op_(op); \
  ::signet::CurrentOp signet_current_op_(op);         \
  ::signet::backend_for(op, __VA_ARGS__, true)

// A CUDA input of an op's CUDA path that takes contiguous inputs must be (Tensor::contiguous
// copies a strided one on its device).
void require_contiguous_on_device(const char* op, const Tensor& t);

// The CPU reference backend (tests only: the op table, tests/cuda_sim/test_op_table.cpp). While
// a CpuReferenceKernels guard lives on this thread, the CPU branch of every op runs its plain-loop
// reference (cpu::*_ref) instead of its fast kernel, so each backend can be compared with it.
bool cpu_reference_kernels();
class CpuReferenceKernels {
 public:
  CpuReferenceKernels();
  ~CpuReferenceKernels();
  CpuReferenceKernels(const CpuReferenceKernels&) = delete;
  CpuReferenceKernels& operator=(const CpuReferenceKernels&) = delete;

 private:
  bool before_;
};
// An op's CPU kernel: `fast`, or `ref` under CpuReferenceKernels (both of one signature).
template <class F>
F cpu_kernel(F fast, F ref) {
  return cpu_reference_kernels() ? ref : fast;
}

// Parallelise an elementwise loop only when it is large enough to pay for waking the pool.
constexpr int64_t kParallelGrain = 1 << 15;

}  // namespace signet
