// Replays every committed fuzz input (tests/fuzz/corpus/<target>/ seeds and
// tests/fuzz/regressions/<target>/ inputs that once crashed a reader) through the harnesses'
// entry functions: each must be read or refused with a signet::Error, in every build, not only
// the sanitizer one. A crash here is a crash a fuzzer found again.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/fuzz/fuzz_target.h"

namespace fs = std::filesystem;

namespace {

struct Target {
  const char* name;
  bool (*run)(const std::string&);
};

const Target kTargets[] = {
    {"safetensors", signet::fuzz::fuzz_safetensors}, {"keys", signet::fuzz::fuzz_keys},
    {"checkpoint", signet::fuzz::fuzz_checkpoint},   {"idx", signet::fuzz::fuzz_idx},
    {"cifar10", signet::fuzz::fuzz_cifar10},         {"imdb", signet::fuzz::fuzz_imdb},
    {"config", signet::fuzz::fuzz_config},           {"predict", signet::fuzz::fuzz_predict},
    {"http", signet::fuzz::fuzz_http},
};

// Test names and messages show the target's name, not the struct's bytes.
void PrintTo(const Target& t, std::ostream* os) { *os << t.name; }

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class FuzzInputs : public ::testing::TestWithParam<Target> {};

TEST_P(FuzzInputs, AreReadOrRefusedWithAnError) {
  const Target& t = GetParam();
  const fs::path base = fs::path(SIGNET_SOURCE_DIR) / "tests" / "fuzz";
  int64_t seeds = 0, accepted = 0;
  for (const char* kind : {"corpus", "regressions"}) {
    const fs::path dir = base / kind / t.name;
    if (!fs::is_directory(dir)) continue;
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (!entry.is_regular_file()) continue;
      if (std::string(kind) == "corpus") ++seeds;
      try {
        if (t.run(slurp(entry.path()))) ++accepted;
      } catch (const signet::Error&) {
      } catch (const std::exception& e) {
        ADD_FAILURE() << entry.path() << ": not a signet::Error: " << e.what();
      }
    }
  }
  // A target without seeds would pass without testing anything.
  EXPECT_GT(seeds, 0) << "no seed inputs in " << (base / "corpus" / t.name);
  // The seeds hold valid files: a reader that refuses everything would pass the loop above.
  EXPECT_GT(accepted, 0) << "no input of " << t.name << " was accepted";
}

INSTANTIATE_TEST_SUITE_P(Targets, FuzzInputs, ::testing::ValuesIn(kTargets),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
