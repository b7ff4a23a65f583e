#pragma once
#if defined(__CUDACC__)
#define SIGNET_KERNEL __global__ void
#define SIGNET_DEVICE __device__ __forceinline__
#define SIGNET_HOST_DEVICE __host__ __device__ __forceinline__
#define SIGNET_SHARED(type, name, count) __shared__ type name[count]
#endif
