// Every CUDA runtime call and kernel launch of ours goes through SIGNET_CUDA_CHECK: a failure
// throws signet::Error naming the call, the file and line, and CUDA's own words.
#pragma once
#include <cuda_runtime.h>

#include "engine/error.h"

#define SIGNET_CUDA_CHECK(call)                                                                  \
  do {                                                                                           \
    const cudaError_t signet_cuda_err_ = (call);                                                 \
    if (signet_cuda_err_ != cudaSuccess)                                                         \
      throw ::signet::Error(::fmt::format("{}:{}: {} failed: {} ({})", __FILE__, __LINE__, #call, \
                                          cudaGetErrorString(signet_cuda_err_),                  \
                                          cudaGetErrorName(signet_cuda_err_)));                  \
  } while (0)
