// --distributed and --sync-bn for the commands that train (train, embed, bench): joining the MPI
// job the launcher started, and the per-rank thread count.
#pragma once
#include <CLI/CLI.hpp>

#include <string>

#include "engine/device.h"

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
// The --device value for this rank (after start_distributed): a plain "cuda" in a job of several
// ranks takes the machine's GPUs in turn by local rank (cuda:N names one GPU for every rank).
Device rank_device(const std::string& device, const char* command);

}  // namespace signet::cli
