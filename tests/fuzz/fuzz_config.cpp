// Experiment configs (`signet evaluate --config FILE.toml`): TOML text checked key by key.
#include "eval/config.h"
#include "tests/fuzz/fuzz_target.h"

namespace signet::fuzz {

bool fuzz_config(const std::string& input) {
  eval::parse_config(input, "fuzz.toml");
  return true;
}

}  // namespace signet::fuzz

SIGNET_FUZZ_ENTRY(signet::fuzz::fuzz_config)
