// The processes that train one model together (data parallelism), and the collective operations
// they need. One implementation per transport: a single process (size 1, every call a no-op
// or a copy) and MPI (Open MPI on CPUs; engine/dist/mpi_communicator.cpp). No home-made
// networking: the MPI library carries every byte.
//
// Contract (all ranks call each collective in the same order with the same sizes; a rank that
// calls something else, or dies, is the MPI runtime's to detect: `mpirun` then ends the job):
//  - allreduce_sum(data, n): on return every rank's data[i] is the sum over ranks of data[i].
//    The order of summation is the library's; for P = 2 it is exact (a + b = b + a).
//  - broadcast(data, bytes, root): every rank receives root's bytes.
//  - allreduce_sum_device(data, n, device): the same sum, data in the memory of `device` (a GPU:
//    gradients trained there). This default stages through host memory (copy to the host,
//    allreduce_sum, copy back); the MPI transport uses NCCL instead when every rank has a GPU of
//    its own (engine/cuda/nccl.h).
//  - allreduce_sum_start(data, n) / wait(handle): the same sum without blocking, so it can run
//    while backward still computes other gradients. Every rank starts its sums in the same order;
//    data must stay untouched until wait(handle) returns, and every started sum must be waited
//    for. progress() lets started sums advance (MPI moves nonblocking collectives forward inside
//    its calls). This default sums at once in start (blocking) and makes wait and progress no-ops.
//  - allgather(text): every rank's text, indexed by rank (for consistency checks: hashes).
//  - barrier(): returns when every rank has called it.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/device.h"

namespace signet::dist {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string backend() const = 0;  // "single" | "mpi"
  virtual void allreduce_sum(float* data, int64_t n) = 0;
  virtual void allreduce_sum(double* data, int64_t n) = 0;
  virtual void allreduce_sum_device(float* data, int64_t n, const Device& device);
  virtual int64_t allreduce_sum_start(float* data, int64_t n) {
    allreduce_sum(data, n);
    return -1;
  }
  virtual void wait(int64_t /*handle*/) {}
  virtual void progress() {}
  virtual void broadcast(void* data, int64_t bytes, int root) = 0;
  virtual std::vector<std::string> allgather(const std::string& text) = 0;
  virtual void barrier() = 0;
};

// The communicator of this process: a single process until start() succeeds.
Communicator& world();
// True when this process is rank 0 (always, outside a distributed run): the rank that writes
// files and prints results.
inline bool is_writer() { return world().rank() == 0; }
// True when the environment says a launcher (mpirun, srun) started this process as one of
// several ranks.
bool launched_by_mpi();
// The job size the launcher exported (1 when not launched by one).
int launcher_size();
// How many ranks of this job run on this machine (from the launcher; 1 when unknown).
int local_ranks();
// This rank's index among them (0 when unknown): which of the machine's GPUs it takes.
int local_rank();
// Whether this build can run distributed (it was built with MPI).
bool mpi_built();
// Joins the job the launcher started: initialises MPI once; world() is then the job. Error when
// the build has no MPI or the process was not started by a launcher (a one-process "job" would
// silently train alone).
void start();
// At exit: a successful run finalises MPI; a failed one (exit_code != 0) aborts the whole job,
// so that ranks waiting in a collective for this one stop instead of hanging. No-op outside a
// distributed run.
void finish(int exit_code);

// For tests: replace world() (nullptr restores the single process).
void set_world_for_testing(std::shared_ptr<Communicator> c);

}  // namespace signet::dist
