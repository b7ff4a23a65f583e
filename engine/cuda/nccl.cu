// NCCL through dlopen (engine/cuda/nccl.h): only the types come from nccl.h; the functions are
// looked up in libnccl.so.2 the first time a job joins, so signet does not need NCCL to start.
#include <cuda_runtime.h>
#include <nccl.h>

#include <cstring>
#include <string>

#include "engine/cuda/check.cuh"
#include "engine/cuda/nccl.h"
#include "engine/cuda/runtime_backend.h"
#include "engine/cuda/shared_library.h"
#include "engine/error.h"

namespace signet::cuda {
namespace {

struct NcclLibrary {
  decltype(&ncclGetUniqueId) get_unique_id = nullptr;
  decltype(&ncclCommInitRank) init_rank = nullptr;
  decltype(&ncclCommDestroy) destroy = nullptr;
  decltype(&ncclAllReduce) all_reduce = nullptr;
  decltype(&ncclGetErrorString) error_string = nullptr;
  decltype(&ncclGetLastError) last_error = nullptr;
};

const NcclLibrary& nccl() {
  static const NcclLibrary lib = [] {
    void* h = open_shared_library({"libnccl.so.2", "libnccl.so"}, "collectives between GPUs need NCCL",
                                  "install the CUDA toolkit's NCCL or put its lib directory on LD_LIBRARY_PATH");
    NcclLibrary l;
    bind_symbol(h, "NCCL", "ncclGetUniqueId", l.get_unique_id);
    bind_symbol(h, "NCCL", "ncclCommInitRank", l.init_rank);
    bind_symbol(h, "NCCL", "ncclCommDestroy", l.destroy);
    bind_symbol(h, "NCCL", "ncclAllReduce", l.all_reduce);
    bind_symbol(h, "NCCL", "ncclGetErrorString", l.error_string);
    bind_symbol(h, "NCCL", "ncclGetLastError", l.last_error);
    return l;
  }();
  return lib;
}

void check(ncclResult_t r, const char* what, ncclComm_t comm = nullptr) {
  if (r == ncclSuccess) return;
  const char* detail = nccl().last_error(comm);
  throw Error(fmt::format("NCCL {} failed: {}{}{}", what, nccl().error_string(r), detail && *detail ? ": " : "",
                          detail ? detail : ""));
}

class Nccl final : public NcclComm {
 public:
  Nccl(const ncclUniqueId& id, int rank, int size, const Device& d) : device_(d) {
    SIGNET_CUDA_CHECK(cudaSetDevice(d.index));
    check(nccl().init_rank(&comm_, size, id, rank), "CommInitRank");
  }
  ~Nccl() override {
    if (comm_) nccl().destroy(comm_);
  }
  void allreduce_sum(float* data, int64_t n) override {
    SIGNET_CHECK(n >= 0, "NCCL allreduce: negative count {}", n);
    if (n == 0) return;
    SIGNET_CUDA_CHECK(cudaSetDevice(device_.index));
    const auto stream = static_cast<cudaStream_t>(backend::current_stream());
    check(nccl().all_reduce(data, data, static_cast<size_t>(n), ncclFloat32, ncclSum, comm_, stream), "AllReduce",
          comm_);
  }

 private:
  Device device_;
  ncclComm_t comm_ = nullptr;
};

}  // namespace

std::string gpu_identity(const Device& d) {
  backend::require_usable(d, "data-parallel training");
  char bus[64] = {0};
  SIGNET_CUDA_CHECK(cudaDeviceGetPCIBusId(bus, static_cast<int>(sizeof(bus)), d.index));
  return bus;
}

std::string nccl_new_id() {
  ncclUniqueId id;
  check(nccl().get_unique_id(&id), "GetUniqueId");
  return std::string(id.internal, sizeof(id.internal));
}

std::unique_ptr<NcclComm> nccl_join(const std::string& id, int rank, int size, const Device& d) {
  SIGNET_CHECK(id.size() == sizeof(ncclUniqueId::internal), "NCCL: a job id of {} bytes, not {}", id.size(),
               sizeof(ncclUniqueId::internal));
  SIGNET_CHECK(d.is_cuda() && rank >= 0 && rank < size, "NCCL: rank {} of {} on {}", rank, size, d.str());
  backend::require_usable(d, "data-parallel training");
  ncclUniqueId u;
  std::memcpy(u.internal, id.data(), id.size());
  return std::make_unique<Nccl>(u, rank, size, d);
}

}  // namespace signet::cuda
