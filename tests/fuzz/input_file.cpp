#include <sys/mman.h>
#include <unistd.h>

#include <fmt/format.h>

#include <stdexcept>

#include "tests/fuzz/fuzz_target.h"

namespace signet::fuzz {

// memfd: no file system litter and no name clashes between fuzzer processes; the path under
// /proc/self/fd opens as a regular file like any other.
InputFile::InputFile(const std::string& bytes) {
  fd_ = memfd_create("signet-fuzz-input", MFD_CLOEXEC);
  // Not signet::Error: a harness that cannot run must not pass as a clean refusal.
  if (fd_ < 0) throw std::runtime_error("memfd_create failed");
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t w = ::write(fd_, bytes.data() + done, bytes.size() - done);
    if (w <= 0) throw std::runtime_error("writing the fuzz input to a memfd failed");
    done += static_cast<size_t>(w);
  }
  path_ = fmt::format("/proc/self/fd/{}", fd_);
}

InputFile::~InputFile() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace signet::fuzz
