// signet: the command-line entry point. Logs and progress go to stderr; with --json a
// subcommand prints exactly one JSON object on stdout.
#include <cstdio>
#include <exception>

#include "cli/commands.h"
#include "engine/error.h"

int main(int argc, char** argv) {
  CLI::App app{"Signet: a deep learning engine for watermarking neural networks"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "signet 0.1.0");
  signet::cli::register_train(app);
  signet::cli::register_evaluate(app);
  signet::cli::register_predict(app);
  signet::cli::register_bench(app);
  signet::cli::register_info(app);
  signet::cli::register_embed(app);
  signet::cli::register_extract(app);
  signet::cli::register_verify(app);
  signet::cli::register_finetune(app);
  signet::cli::register_attack(app);
  signet::cli::register_reproduce(app);
  signet::cli::register_identity(app);
  signet::cli::register_certify(app);
  signet::cli::register_schemes(app);
  signet::cli::register_serve(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every bad flag exits 2 (CLI11's own codes, 105-115, are
    // an implementation detail scripts should not depend on).
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  } catch (const signet::Error& e) {
    std::fprintf(stderr, "signet: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "signet: internal error: %s\n", e.what());
    return 3;
  }
  return 0;
}
