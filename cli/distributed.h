// --distributed and --sync-bn for the commands that train (train, embed, bench): joining the MPI
// job the launcher started, and the per-rank thread count.
#pragma once
#include <CLI/CLI.hpp>

namespace signet::cli {

struct DistributedFlags {
  bool distributed = false;  // also on automatically when a launcher started several ranks
  bool sync_bn = false;
};
void add_distributed_flags(CLI::App* c, DistributedFlags& f);
// Joins the job when asked to or when launched as one of several ranks (Error when --distributed
// cannot be honoured), then sets the threads: --threads N as given; 0 shares the machine's cores
// among the ranks on it, fixed (a rank must not take its neighbours' cores). Returns true when
// this process is one of several ranks.
bool start_distributed(const DistributedFlags& f, int threads);

}  // namespace signet::cli
