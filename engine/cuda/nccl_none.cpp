// NCCL in a build without the CUDA backend: there is no GPU memory to reduce, so every call says
// why. CMakeLists.txt leaves this file out when engine/cuda/nccl.cu is built.
#include "engine/cuda/nccl.h"
#include "engine/error.h"

namespace signet::cuda {

std::string gpu_identity(const Device& d) { return d.str(); }

std::string nccl_new_id() {
  throw Error("NCCL: this signet was built without the CUDA backend (SIGNET_CUDA=OFF, or no nvcc when it was built)");
}

std::unique_ptr<NcclComm> nccl_join(const std::string&, int, int, const Device&) { nccl_new_id(); return nullptr; }

}  // namespace signet::cuda
