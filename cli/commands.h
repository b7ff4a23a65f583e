// Each `signet` subcommand lives in its own cli/cmd_<name>.cpp and registers itself here.
// A subcommand's callback throws signet::Error for anything the user can fix; main() prints
// the message to stderr and exits with status 1 (2 for bad command-line flags, from CLI11).
#pragma once
#include <CLI/CLI.hpp>

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

}  // namespace signet::cli
