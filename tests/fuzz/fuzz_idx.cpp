// IDX files (MNIST, Fashion-MNIST), raw or gzip: parsed in memory, then read as images and
// labels through the path readers the data sets use.
#include "datasets/idx.h"
#include "tests/fuzz/fuzz_target.h"

namespace signet::fuzz {

bool fuzz_idx(const std::string& input) {
  const std::vector<uint8_t> bytes(input.begin(), input.end());
  parse_idx(bytes, "fuzz.idx");
  const InputFile file(input);
  try {
    read_idx_images(file.path());
  } catch (const Error&) {
  }
  read_idx_labels(file.path());
  return true;
}

}  // namespace signet::fuzz

SIGNET_FUZZ_ENTRY(signet::fuzz::fuzz_idx)
