#include "cli/distributed.h"

#include <algorithm>
#include <thread>

#include "cli/common.h"
#include "engine/cuda/runtime.h"
#include "engine/dist/communicator.h"
#include "engine/error.h"
#include "engine/thread_governor.h"

namespace signet::cli {

void add_distributed_flags(CLI::App* c, DistributedFlags& f) {
  c->add_flag("--distributed", f.distributed,
              "data-parallel training over the ranks of `mpirun -np P` (on by itself when launched with P > 1): each "
              "rank takes 1/P of every batch, gradients are averaged, rank 0 writes the files");
  c->add_flag("--sync-bn", f.sync_bn,
              "with --distributed: average BatchNorm running statistics over the ranks after every step (default: "
              "each rank keeps its own, rank 0's are saved)");
}

bool start_distributed(const DistributedFlags& f, int threads) {
  SIGNET_CHECK(threads >= 0, "--threads must be >= 0, got {}", threads);
  const bool several = dist::launcher_size() > 1;
  SIGNET_CHECK(!f.sync_bn || f.distributed || several,
               "--sync-bn needs a distributed run (mpirun -np P signet ... --distributed)");
  if (!f.distributed && !several) {
    set_threads(threads);
    return false;
  }
  dist::start();
  if (threads > 0) {
    threads::configure_fixed(threads);
  } else {
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    threads::configure_fixed(std::max(1, cores / std::max(1, dist::local_ranks())));
  }
  return dist::world().size() > 1;
}

Device rank_device(const std::string& device, const char* command) {
  if (device != "cuda" || dist::world().size() <= 1) return usable_device(device, command);
  const cuda::CudaAvailability a = cuda::cuda_availability();
  SIGNET_CHECK(!a.gpus.empty(), "{} --device cuda: no usable GPU on this machine: {}", command, a.why_none);
  const cuda::GpuInfo& g = a.gpus[static_cast<size_t>(dist::local_rank()) % a.gpus.size()];
  return usable_device(fmt::format("cuda:{}", g.index), command);
}

}  // namespace signet::cli
