// CIFAR-10 binary batches: the input is one batch file.
#include "datasets/cifar10.h"
#include "tests/fuzz/fuzz_target.h"

namespace signet::fuzz {

bool fuzz_cifar10(const std::string& input) {
  const InputFile file(input);
  read_cifar10_files({file.path(), file.path()});
  return true;
}

}  // namespace signet::fuzz

SIGNET_FUZZ_ENTRY(signet::fuzz::fuzz_cifar10)
