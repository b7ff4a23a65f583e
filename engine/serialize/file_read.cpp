#include "engine/serialize/file_read.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "engine/error.h"

namespace signet {
namespace {

const char* file_type_name(mode_t m) {
  if (S_ISDIR(m)) return "a directory";
  if (S_ISFIFO(m)) return "a FIFO (named pipe)";
  if (S_ISSOCK(m)) return "a socket";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  return "not a regular file";
}

std::string human_bytes(uint64_t n) {
  if (n >= file_kind::kGiB && n % file_kind::kGiB == 0) return fmt::format("{} GiB", n / file_kind::kGiB);
  if (n >= file_kind::kMiB && n % file_kind::kMiB == 0) return fmt::format("{} MiB", n / file_kind::kMiB);
  if (n >= file_kind::kKiB && n % file_kind::kKiB == 0) return fmt::format("{} KiB", n / file_kind::kKiB);
  return fmt::format("{} bytes", n);
}

struct FdCloser {
  int fd;
  ~FdCloser() { ::close(fd); }
};

template <typename Buffer>
Buffer read_checked(const std::string& path, const FileKind& kind) {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, forever.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  SIGNET_CHECK(fd >= 0, "cannot read the {} '{}': {}", kind.what, path, std::strerror(errno));
  FdCloser closer{fd};
  struct stat st {};
  SIGNET_CHECK(::fstat(fd, &st) == 0, "cannot read the {} '{}': {}", kind.what, path, std::strerror(errno));
  SIGNET_CHECK(S_ISREG(st.st_mode), "cannot read the {} '{}': it is {}, not a regular file", kind.what, path,
               file_type_name(st.st_mode));
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  SIGNET_CHECK(size <= kind.max_bytes,
               "cannot read the {} '{}': it is {} bytes, more than the {} accepted for a {}; it is not a "
               "file Signet wrote or ships",
               kind.what, path, size, human_bytes(kind.max_bytes), kind.what);

  Buffer out;
  out.resize(static_cast<size_t>(size));
  size_t got = 0;
  while (got < out.size()) {
    const ssize_t n = ::read(fd, reinterpret_cast<char*>(&out[0]) + got, out.size() - got);
    if (n < 0 && errno == EINTR) continue;
    SIGNET_CHECK(n >= 0, "cannot read the {} '{}': {}", kind.what, path, std::strerror(errno));
    SIGNET_CHECK(n > 0, "cannot read the {} '{}': it shrank from {} to {} bytes while being read", kind.what, path,
                 size, got);
    got += static_cast<size_t>(n);
  }
  // One more byte tells a file that grew meanwhile (being written?) from a complete one.
  char extra;
  ssize_t n;
  do n = ::read(fd, &extra, 1);
  while (n < 0 && errno == EINTR);
  SIGNET_CHECK(n == 0, "cannot read the {} '{}': it grew beyond {} bytes while being read (is it still being "
               "written?)", kind.what, path, size);
  return out;
}

}  // namespace

std::string read_file(const std::string& path, const FileKind& kind) {
  return read_checked<std::string>(path, kind);
}

std::vector<uint8_t> read_file_bytes(const std::string& path, const FileKind& kind) {
  return read_checked<std::vector<uint8_t>>(path, kind);
}

}  // namespace signet
