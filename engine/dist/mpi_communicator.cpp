// The MPI transport (built when CMake finds MPI): Open MPI on CPUs, over shared memory on one
// machine and the network between machines. Counts larger than an int are sent in pieces.
// Buffers on GPUs go through NCCL when every rank has a GPU of its own, else through host memory.
#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdio>
#include <map>
#include <set>
#include <vector>

#include "engine/cuda/nccl.h"
#include "engine/dist/communicator.h"
#include "engine/dist/install.h"
#include "engine/error.h"

namespace signet::dist {

namespace {
std::atomic<bool> g_started{false};

void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  throw Error(fmt::format("MPI {} failed: {}", what, std::string(msg, static_cast<size_t>(len))));
}

constexpr int64_t kMaxCount = INT_MAX / 2;  // elements per MPI call

class Mpi final : public Communicator {
 public:
  Mpi() {
    check(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "Comm_rank");
    check(MPI_Comm_size(MPI_COMM_WORLD, &size_), "Comm_size");
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "mpi"; }
  void allreduce_sum(float* data, int64_t n) override { reduce(data, n, MPI_FLOAT); }
  void allreduce_sum(double* data, int64_t n) override { reduce(data, n, MPI_DOUBLE); }
  void allreduce_sum_device(float* data, int64_t n, const Device& device) override {
    if (!device.is_cpu())
      if (cuda::NcclComm* c = nccl_for(device)) return c->allreduce_sum(data, n);
    Communicator::allreduce_sum_device(data, n, device);
  }
  int64_t allreduce_sum_start(float* data, int64_t n) override {
    std::vector<MPI_Request>& reqs = started_[next_handle_];
    for (int64_t off = 0; off < n; off += kMaxCount) {
      reqs.emplace_back();
      check(MPI_Iallreduce(MPI_IN_PLACE, data + off, static_cast<int>(std::min(kMaxCount, n - off)), MPI_FLOAT,
                           MPI_SUM, MPI_COMM_WORLD, &reqs.back()),
            "Iallreduce");
    }
    return next_handle_++;
  }
  void wait(int64_t handle) override {
    auto it = started_.find(handle);
    SIGNET_CHECK(it != started_.end(), "internal: wait for allreduce {} that was not started", handle);
    std::vector<MPI_Request> reqs = std::move(it->second);
    started_.erase(it);
    check(MPI_Waitall(static_cast<int>(reqs.size()), reqs.data(), MPI_STATUSES_IGNORE), "Waitall");
  }
  void progress() override {
    for (auto& [handle, reqs] : started_) {
      int done = 0;
      check(MPI_Testall(static_cast<int>(reqs.size()), reqs.data(), &done, MPI_STATUSES_IGNORE), "Testall");
    }
  }
  void broadcast(void* data, int64_t bytes, int root) override {
    auto* p = static_cast<char*>(data);
    for (int64_t off = 0; off < bytes; off += kMaxCount)
      check(MPI_Bcast(p + off, static_cast<int>(std::min(kMaxCount, bytes - off)), MPI_BYTE, root, MPI_COMM_WORLD),
            "Bcast");
  }
  std::vector<std::string> allgather(const std::string& text) override {
    SIGNET_CHECK(text.size() < static_cast<size_t>(kMaxCount) / static_cast<size_t>(size_),
                 "allgather: {} bytes per rank is too large", text.size());
    int len = static_cast<int>(text.size());
    std::vector<int> lens(static_cast<size_t>(size_)), offs(static_cast<size_t>(size_));
    check(MPI_Allgather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, MPI_COMM_WORLD), "Allgather");
    int total = 0;
    for (int r = 0; r < size_; ++r) offs[static_cast<size_t>(r)] = total, total += lens[static_cast<size_t>(r)];
    std::string all(static_cast<size_t>(total), '\0');
    check(MPI_Allgatherv(text.data(), len, MPI_CHAR, all.data(), lens.data(), offs.data(), MPI_CHAR, MPI_COMM_WORLD),
          "Allgatherv");
    std::vector<std::string> out;
    for (int r = 0; r < size_; ++r)
      out.push_back(all.substr(static_cast<size_t>(offs[static_cast<size_t>(r)]),
                               static_cast<size_t>(lens[static_cast<size_t>(r)])));
    return out;
  }
  void barrier() override { check(MPI_Barrier(MPI_COMM_WORLD), "Barrier"); }

 private:
  template <typename T>
  void reduce(T* data, int64_t n, MPI_Datatype type) {
    for (int64_t off = 0; off < n; off += kMaxCount)
      check(MPI_Allreduce(MPI_IN_PLACE, data + off, static_cast<int>(std::min(kMaxCount, n - off)), type, MPI_SUM,
                          MPI_COMM_WORLD),
            "Allreduce");
  }
  // The job's NCCL communicator, decided on the first GPU buffer (every rank gets there in the same
  // step, so the exchanges below line up): NCCL needs one GPU per rank, so ranks that share one (a
  // machine with fewer GPUs than ranks), or a rank 0 that cannot load NCCL, stage through host
  // memory instead, and rank 0 says so once.
  cuda::NcclComm* nccl_for(const Device& device) {
    if (nccl_decided_) {
      SIGNET_CHECK(device == nccl_device_, "data-parallel training: buffers on {} and on {} in one job", device.str(),
                   nccl_device_.str());
      return nccl_.get();
    }
    nccl_decided_ = true;
    nccl_device_ = device;
    char host[256] = {0};
    gethostname(host, sizeof(host) - 1);
    const std::vector<std::string> gpus = allgather(std::string(host) + " " + cuda::gpu_identity(device));
    std::string answer;  // rank 0's: "id" + the job id, or "no" + the reason
    if (rank_ == 0) {
      const size_t distinct = std::set<std::string>(gpus.begin(), gpus.end()).size();
      if (distinct < gpus.size()) {
        answer = "no" + fmt::format("{} ranks share {} GPU(s), and NCCL needs one GPU per rank", size_, distinct);
      } else {
        try {
          answer = "id" + cuda::nccl_new_id();
        } catch (const Error& e) {
          answer = "no" + std::string(e.what());
        }
      }
    }
    answer = allgather(answer)[0];
    if (answer.rfind("no", 0) == 0) {
      if (rank_ == 0)
        std::fprintf(stderr, "signet: GPU gradients are summed through host memory over MPI, not NCCL: %s\n",
                     answer.substr(2).c_str());
      return nullptr;
    }
    nccl_ = cuda::nccl_join(answer.substr(2), rank_, size_, device);
    return nccl_.get();
  }

  int rank_ = 0, size_ = 1;
  std::map<int64_t, std::vector<MPI_Request>> started_;  // by handle: the pieces of one sum
  int64_t next_handle_ = 0;
  bool nccl_decided_ = false;
  Device nccl_device_ = Device::cpu();
  std::unique_ptr<cuda::NcclComm> nccl_;
};
}  // namespace

bool mpi_built() { return true; }

void start() {
  if (g_started) return;
  SIGNET_CHECK(launched_by_mpi(),
               "--distributed: this process was not started by an MPI launcher; run `mpirun -np P signet ...` "
               "(one process alone would train as P = 1)");
  int ready = 0;
  MPI_Initialized(&ready);
  if (!ready) {
    // Only the main thread calls MPI (the data loader's prefetch thread never does).
    int provided = 0;
    check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "Init");
  }
  // Errors come back as codes (turned into signet::Error above) instead of aborting in the library.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  install(std::make_shared<Mpi>());
  g_started = true;
}

void finish(int exit_code) {
  if (!g_started) return;
  g_started = false;
  if (exit_code != 0) {
    std::fflush(stdout);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, exit_code);  // ends every rank: none waits forever for this one
  }
  install(nullptr);
  MPI_Finalize();
}

}  // namespace signet::dist
