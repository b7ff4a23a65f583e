// The one header kernel sources (engine/cuda/kernels/*.cuh) include for CUDA built-ins. Under
// nvcc it only defines Signet's portability macros; in tests (-DSIGNET_CUDA_SIM) the same kernel
// source compiles as host C++ against the CPU emulator in tests/cuda_sim/.
#pragma once

#if defined(__CUDACC__)

#define SIGNET_KERNEL __global__ void
#define SIGNET_DEVICE __device__ __forceinline__
#define SIGNET_HOST_DEVICE __host__ __device__ __forceinline__
#define SIGNET_SHARED(type, name, count) __shared__ type name[count]
// All dynamic shared memory of a launch is one extern array; each declaration is a typed view of
// its start (partition it with pointer arithmetic).
#define SIGNET_DYNAMIC_SHARED(type, name)                         \
  extern __shared__ __align__(16) unsigned char signet_dyn_smem_[]; \
  type* name = reinterpret_cast<type*>(signet_dyn_smem_)

#elif defined(SIGNET_CUDA_SIM)

#include "tests/cuda_sim/cuda_sim.h"

#else
#error "engine/cuda/kernel_compat.h: compile kernels with nvcc, or with -DSIGNET_CUDA_SIM for the CPU emulator in tests"
#endif
