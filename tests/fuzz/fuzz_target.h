// Shared by the fuzz harnesses (tests/fuzz/fuzz_*.cpp) and their regression test.
//
// Each harness file defines one entry function `bool fuzz_<target>(const std::string& input)`
// that hands the bytes to a reader the way a hostile file or request would reach it, and says
// whether the reader accepted them (so a test can tell a reader that refuses everything). A reader
// may throw signet::Error (a clean refusal); anything else (another exception, a sanitizer
// report, a crash) is a finding. The same function runs under libFuzzer (SIGNET_FUZZ_HARNESS,
// one executable per target) and in the unit test test_fuzz_regressions.cpp, which replays the
// committed corpus and regression inputs in every build.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/error.h"

namespace signet::fuzz {

bool fuzz_safetensors(const std::string& input);
bool fuzz_keys(const std::string& input);
bool fuzz_checkpoint(const std::string& input);
bool fuzz_idx(const std::string& input);
bool fuzz_cifar10(const std::string& input);
bool fuzz_imdb(const std::string& input);
bool fuzz_config(const std::string& input);
bool fuzz_predict(const std::string& input);
bool fuzz_http(const std::string& input);

// Readers that only take a path read the input from an in-memory file (memfd) at path().
class InputFile {
 public:
  explicit InputFile(const std::string& bytes);
  ~InputFile();
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  int fd_ = -1;
  std::string path_;
};

}  // namespace signet::fuzz

// libFuzzer's entry point for the harness built from this file: signet::Error is a clean
// refusal; everything else propagates to libFuzzer, which reports it.
#ifdef SIGNET_FUZZ_HARNESS
#define SIGNET_FUZZ_ENTRY(fn)                                                   \
  extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {     \
    try {                                                                       \
      fn(std::string(reinterpret_cast<const char*>(data), size));               \
    } catch (const signet::Error&) {                                            \
    }                                                                           \
    return 0;                                                                   \
  }
#else
#define SIGNET_FUZZ_ENTRY(fn)
#endif
