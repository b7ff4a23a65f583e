// Each `signet` subcommand lives in its own cli/cmd_<name>.cpp and registers itself here.
// A subcommand's callback throws signet::Error for anything the user can fix; main() prints
// the message to stderr and exits with status 1 (2 for bad command-line flags, from CLI11).
#pragma once
#include <CLI/CLI.hpp>
#include <string>

namespace signet::cli {

void register_train(CLI::App& app);
void register_evaluate(CLI::App& app);
void register_predict(CLI::App& app);
void register_bench(CLI::App& app);
void register_info(CLI::App& app);
void register_embed(CLI::App& app);
void register_extract(CLI::App& app);
void register_verify(CLI::App& app);
void register_finetune(CLI::App& app);
void register_attack(CLI::App& app);
void register_reproduce(CLI::App& app);
void register_identity(CLI::App& app);
void register_certify(CLI::App& app);
void register_schemes(CLI::App& app);
void register_serve(CLI::App& app);

// `signet evaluate --config` and `signet reproduce` (cli/cmd_evaluate.cpp): runs an experiment
// config and writes its results and report.
struct ConfigRunArgs {
  std::string config, cache = "runs/cache", runs = "runs", reports = "reports", command;
  bool dry_run = false, json = false, quiet = false, no_report = false, report_only = false;
  int threads = 0;
};
void run_config_command(const ConfigRunArgs& a);
// Adds the options of ConfigRunArgs (all but `config`) to a subcommand.
void add_config_run_options(CLI::App* c, ConfigRunArgs& a);

}  // namespace signet::cli
