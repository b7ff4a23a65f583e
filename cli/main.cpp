// signet: the command-line entry point. Logs and progress go to stderr; with --json a
// subcommand prints exactly one JSON object on stdout. Exit status (docs/exit-codes.md):
// 0 success, 1 a signet::Error (the message says what to fix) or memory ran out, 2 the command
// line does not parse, 3 an internal error (any other exception: a bug).
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <new>
#include <stdexcept>
#include <string>

#include "cli/build_info.h"
#include "cli/commands.h"
#include "engine/dist/communicator.h"
#include "engine/error.h"

// Under `mpirun -np P` (P > 1) only the commands that train one model together may run: any
// other would run P times over, each copy writing the same outputs.
static bool refuse_under_launcher(int argc, char** argv) {
  if (signet::dist::launcher_size() <= 1) return false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.empty() || a[0] == '-') continue;
    if (a == "train" || a == "embed" || a == "bench") return false;
    std::fprintf(stderr,
                 "signet: error: `signet %s` does not run data-parallel; of the commands only train, embed and bench "
                 "do: run it without mpirun\n",
                 a.c_str());
    return true;
  }
  return false;
}

static int run(int argc, char** argv) {
  if (refuse_under_launcher(argc, argv)) return 1;
  CLI::App app{"Signet: a deep learning engine for watermarking neural networks", "signet"};
  app.require_subcommand(1);
  // --json beside --version asks for the build facts as JSON; every subcommand has its own --json.
  CLI::Option* version_json = app.add_flag("--json", "with --version: print the build facts as one JSON object");
  CLI::Option* version = app.set_version_flag(
      "--version",
      [version_json] {
        return version_json->count() ? signet::cli::version_json().dump() : signet::cli::version_text();
      },
      "Print the version, git commit and build options, then exit");
  version_json->needs(version);
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
  // After the subcommands, which would otherwise each repeat it under their own --help.
  app.footer(
      "Run `signet COMMAND --help` for a command's flags.\n"
      "Exit status: 0 success; 1 an error the message explains (a missing or corrupt file, a value out of range, "
      "an invalid ownership certificate); 2 the command line does not parse (unknown command or flag, missing "
      "required flag, a value of the wrong type); 3 internal error (a bug: please report it). "
      "Messages go to stderr as `signet: error: ...`; --json output goes to stdout.");
  try {
    // No command line reaches an internal error on purpose; this one lets the test of exit
    // status 3 (tests/cli/test_cli_exit_codes.cpp) check how main() reports one.
    if (std::getenv("SIGNET_TEST_INTERNAL_ERROR")) throw std::logic_error("SIGNET_TEST_INTERNAL_ERROR is set");
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every command line the parser rejects exits 2 (CLI11's own
    // codes, 105-115, are an implementation detail scripts should not depend on), with its
    // message in the same form as every other error.
    if (e.get_exit_code() == 0) return app.exit(e);
    std::fprintf(stderr, "signet: error: %s\nRun with --help for more information.\n", e.what());
    return 2;
  } catch (const signet::Error& e) {
    const signet::dist::Communicator& w = signet::dist::world();
    if (w.size() > 1)
      std::fprintf(stderr, "signet: error (rank %d of %d): %s\n", w.rank(), w.size(), e.what());
    else
      std::fprintf(stderr, "signet: error: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    // The same condition as a tensor allocation failing (engine/tensor.cpp): the user's to fix.
    std::fprintf(stderr, "signet: error: out of memory: try a smaller batch size or model\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "signet: internal error: %s\n", e.what());
    return 3;
  }
  return 0;
}

// A distributed run ends on every rank together: a rank that fails aborts the job (the others
// would wait for it in the next allreduce), one that succeeds finalises MPI.
int main(int argc, char** argv) {
  const int code = run(argc, argv);
  signet::dist::finish(code);
  return code;
}
