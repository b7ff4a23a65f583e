// Small helpers shared by unit tests that write files or expect errors.
#pragma once
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>

#include "engine/error.h"

namespace signet::testing {

// Built with AddressSanitizer: its shadow memory needs terabytes of address space (so `ulimit -v`
// cannot be used) and its quarantine keeps up to 256 MiB of freed memory resident.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAddressSanitizer = true;
#else
constexpr bool kAddressSanitizer = false;
#endif
#else
constexpr bool kAddressSanitizer = false;
#endif

// A fresh directory under /tmp (mkdtemp: unique even when ctest runs tests in parallel),
// removed with everything in it when the test ends.
struct ScratchDir {
  std::string path;
  explicit ScratchDir(const std::string& prefix = "signet_test_") {
    std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "XXXXXX")).string();
    if (!::mkdtemp(tmpl.data())) std::abort();
    path = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  std::string file(const std::string& name) const { return path + "/" + name; }
};

// The message of the signet::Error that f throws, or "" when it throws none.
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace signet::testing
