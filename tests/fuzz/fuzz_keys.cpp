// Keys files of every registered scheme: load_keys reads the file, finds the scheme named in it
// and lets that scheme's read_keys check its tensors and metadata.
#include "tests/fuzz/fuzz_target.h"
#include "watermark/scheme.h"

namespace signet::fuzz {

bool fuzz_keys(const std::string& input) {
  const InputFile file(input);
  load_keys(file.path());
  return true;
}

}  // namespace signet::fuzz

SIGNET_FUZZ_ENTRY(signet::fuzz::fuzz_keys)
