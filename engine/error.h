// Errors are values a user can act on: every failure the user can cause (a bad file, a wrong
// shape, an unknown name) throws signet::Error with a message that names the culprit. The CLI
// catches it at the top, prints the message and exits non-zero; nothing half-written remains.
#pragma once
#include <stdexcept>
#include <string>
#include <fmt/format.h>

namespace signet {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// SIGNET_CHECK(cond, "format {}", args...) throws Error when cond is false.
#define SIGNET_CHECK(cond, ...)                                   \
  do {                                                            \
    if (!(cond)) throw ::signet::Error(::fmt::format(__VA_ARGS__)); \
  } while (0)

}  // namespace signet
