#include "engine/dist/communicator.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "engine/cuda/runtime.h"
#include "engine/dist/install.h"
#include "engine/error.h"

namespace signet::dist {

namespace {
class SingleProcess final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string backend() const override { return "single"; }
  void allreduce_sum(float*, int64_t) override {}
  void allreduce_sum(double*, int64_t) override {}
  void broadcast(void*, int64_t, int) override {}
  std::vector<std::string> allgather(const std::string& text) override { return {text}; }
  void barrier() override {}
};

std::shared_ptr<Communicator>& slot() {
  static std::shared_ptr<Communicator> c = std::make_shared<SingleProcess>();
  return c;
}

// The variable's value when it is a whole number >= min (and sane), else -1.
int env_int(const char* name, long min = 1) {
  const char* v = std::getenv(name);
  if (!v || !*v) return -1;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  return (*end == '\0' && n >= min && n < (1L << 30)) ? static_cast<int>(n) : -1;
}
}  // namespace

void Communicator::allreduce_sum_device(float* data, int64_t n, const Device& device) {
  if (device.is_cpu()) return allreduce_sum(data, n);
  SIGNET_CHECK(n >= 0, "allreduce: negative count {}", n);
  std::vector<float> host(static_cast<size_t>(n));
  const size_t bytes = static_cast<size_t>(n) * sizeof(float);
  cuda::copy_bytes(host.data(), Device::cpu(), data, device, bytes);
  allreduce_sum(host.data(), n);
  cuda::copy_bytes(data, device, host.data(), Device::cpu(), bytes);
}

Communicator& world() { return *slot(); }

void install(std::shared_ptr<Communicator> c) { slot() = c ? std::move(c) : std::make_shared<SingleProcess>(); }

void set_world_for_testing(std::shared_ptr<Communicator> c) { install(std::move(c)); }

// The job size a launcher exported, or -1: Open MPI's mpirun, MPICH/Hydra and Slurm's PMI each
// export it to every rank.
static int launcher_env_size() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"}) {
    const int n = env_int(v);
    if (n > 0) return n;
  }
  return -1;
}

bool launched_by_mpi() { return launcher_env_size() > 0; }

int launcher_size() { return std::max(1, launcher_env_size()); }

int local_ranks() {
  for (const char* v : {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS_PER_NODE"}) {
    const int n = env_int(v);
    if (n > 0) return n;
  }
  return 1;
}

int local_rank() {
  for (const char* v : {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID"}) {
    const int n = env_int(v, 0);
    if (n >= 0) return n;
  }
  return 0;
}

}  // namespace signet::dist
