// NCCL between GPUs: the CUDA toolkit's collective library, which the MPI transport
// (engine/dist/mpi_communicator.cpp) uses for gradients that live on a GPU when every rank has a
// GPU of its own. Rank 0 draws the job's id, the host transport carries it to the other ranks,
// and every rank joins with it. The library is opened with dlopen the first time a job needs it
// (like cuBLAS), so a machine without it still runs everything else. Builds without the CUDA
// backend answer every call with the reason (nccl_none.cpp).
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "engine/device.h"

namespace signet::cuda {

class NcclComm {
 public:
  virtual ~NcclComm() = default;
  // Sums data[0..n) (memory of this rank's GPU) over the ranks, in place. Queued on the GPU's
  // compute stream after the work already there, so the ops that follow read the sum.
  virtual void allreduce_sum(float* data, int64_t n) = 0;
};

// Which physical GPU `d` is (its PCI bus id; the device's name without the CUDA backend): ranks
// compare these to find out whether each has a GPU of its own.
std::string gpu_identity(const Device& d);
// A new job id (opaque bytes), or an Error saying why NCCL cannot be used on this machine.
std::string nccl_new_id();
// Joins job `id` as `rank` of `size` on GPU `d`. Collective: every rank of the job calls it.
std::unique_ptr<NcclComm> nccl_join(const std::string& id, int rank, int size, const Device& d);

}  // namespace signet::cuda
