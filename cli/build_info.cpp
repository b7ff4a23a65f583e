#include "cli/build_info.h"

#include "engine/dist/communicator.h"

#include <fmt/format.h>

#include <vector>

#include "signet_git_version.h"  // generated at build time by cmake/git_version.cmake

// Set on this file alone from the configuration (cmake/version_and_man.cmake).
#ifndef SIGNET_VERSION
#error "SIGNET_VERSION and the other build facts come from cmake/version_and_man.cmake"
#endif

namespace signet::cli {
namespace {

struct BuildFacts {
  std::string commit = SIGNET_GIT_COMMIT;
  bool dirty = SIGNET_GIT_DIRTY;
  std::string build_type = SIGNET_BUILD_TYPE, march = SIGNET_MARCH, sanitizer = SIGNET_SANITIZER;
  bool cuda_toolkit = SIGNET_CUDA_TOOLKIT;
  // This file is compiled with the flags of every other file, so these macros are the
  // instruction set the whole binary was built for.
  std::vector<std::string> isa = {
#if defined(__AVX512F__)
      "avx512f",
#endif
#if defined(__AVX2__)
      "avx2",
#endif
#if defined(__FMA__)
      "fma",
#endif
#if defined(__AVX__)
      "avx",
#endif
#if defined(__SSE4_2__)
      "sse4.2",
#endif
  };
  // engine/cpu/gemm_blocked.h: the hand-written GEMM and convolution kernels need AVX-512F;
  // without it matrix products go to OpenBLAS (which picks its kernels for the CPU at run time).
#if defined(__AVX512F__)
  std::string kernels = "avx512";
#else
  std::string kernels = "openblas";
#endif
#if defined(__clang__)
  std::string compiler = fmt::format("Clang {}.{}.{}", __clang_major__, __clang_minor__, __clang_patchlevel__);
#elif defined(__GNUC__)
  std::string compiler = fmt::format("GCC {}.{}.{}", __GNUC__, __GNUC_MINOR__, __GNUC_PATCHLEVEL__);
#else
  std::string compiler = "unknown";
#endif
};

std::string commit_text(const BuildFacts& b) {
  return b.commit == "unknown" || !b.dirty ? b.commit : b.commit + "-dirty";
}

}  // namespace

std::string version_text() {
  const BuildFacts b;
  const std::string target =
      b.march.empty() ? "the compiler's default (no -march for this build type)" : "-march=" + b.march;
  const std::string isa = b.isa.empty() ? "baseline" : fmt::format("{}", fmt::join(b.isa, " "));
  const std::string kernels = b.kernels == "avx512"
                                  ? "AVX-512 (Signet's own GEMM and convolution kernels)"
                                  : "OpenBLAS GEMM (no AVX-512 at build time: Signet's own kernels are off)";
  const std::string cuda = b.cuda_toolkit ? "toolkit found at build time (CPU backend only)"
                                          : "toolkit not found (CPU backend only)";
  return fmt::format(
      "signet {}\n"
      "commit      {}\n"
      "build type  {}\n"
      "cpu target  {} ({})\n"
      "kernels     {}\n"
      "cuda        {}\n"
      "mpi         {}\n"
      "sanitizer   {}\n"
      "compiler    {}",
      SIGNET_VERSION, commit_text(b), b.build_type, target, isa, kernels, cuda,
      dist::mpi_built() ? "built (data-parallel training: mpirun -np P signet train ...)" : "not built (no --distributed)",
      b.sanitizer, b.compiler);
}

nlohmann::json version_json() {
  const BuildFacts b;
  return {{"version", SIGNET_VERSION},
          {"commit", b.commit},
          {"dirty", b.dirty},
          {"build_type", b.build_type},
          {"march", b.march.empty() ? nlohmann::json() : nlohmann::json(b.march)},  // null: no -march
          {"isa", b.isa},
          {"kernels", b.kernels},
          {"cuda_toolkit", b.cuda_toolkit},
          {"mpi", dist::mpi_built()},
          {"sanitizer", b.sanitizer},
          {"compiler", b.compiler}};
}

}  // namespace signet::cli
