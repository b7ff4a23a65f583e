#include "watermark/verify/json_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "engine/error.h"
#include "engine/serialize/atomic_file.h"
#include "engine/serialize/untrusted_json.h"

namespace signet::json_file {
namespace {

using json = nlohmann::json;
constexpr size_t kMaxFileBytes = 64 * 1024;  // a certificate or key file is under 1 KiB

int hex_val(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // canonical files use lowercase only
}

std::string read_small_file(const std::string& path, const std::string& what) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  SIGNET_CHECK(fd >= 0, "cannot read {} '{}': {}", what, path, std::strerror(errno));
  std::string out;
  char buf[8192];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || out.size() + static_cast<size_t>(n) > kMaxFileBytes) {
      const int err = errno;
      ::close(fd);
      SIGNET_CHECK(n >= 0, "cannot read {} '{}': {}", what, path, std::strerror(err));
      SIGNET_CHECK(n == 0, "{}: not a Signet {}: larger than {} bytes", path, what, kMaxFileBytes);
      return out;
    }
    out.append(buf, static_cast<size_t>(n));
  }
}

std::string parent_dir(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

bool exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;  // a dangling symlink counts: never write through it
}

}  // namespace

json read_object(const std::string& path, const std::string& what) {
  const std::string bytes = read_small_file(path, what);
  require_json_depth(bytes, path);
  json j = json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  SIGNET_CHECK(!j.is_discarded(), "{}: not a Signet {}: not valid JSON{}", path, what,
               bytes.empty() ? " (the file is empty)" : "");
  SIGNET_CHECK(j.is_object(), "{}: not a Signet {}: not a JSON object", path, what);
  return j;
}

const std::string& string_field(const json& j, const char* key, const std::string& where) {
  auto it = j.find(key);
  SIGNET_CHECK(it != j.end(), "{}: missing field '{}'", where, key);
  SIGNET_CHECK(it->is_string(), "{}: field '{}' must be a string, got {}", where, key, it->type_name());
  return it->get_ref<const std::string&>();
}

void check_version(const json& j, const std::string& where) {
  auto it = j.find("version");
  SIGNET_CHECK(it != j.end(), "{}: missing field 'version'", where);
  SIGNET_CHECK(it->is_number_integer() && *it == 1, "{}: unsupported version {} (this signet reads version 1)",
               where, it->dump());
}

std::string to_hex(const unsigned char* p, size_t n) {
  static const char* d = "0123456789abcdef";
  std::string s(2 * n, '0');
  for (size_t i = 0; i < n; ++i) s[2 * i] = d[p[i] >> 4], s[2 * i + 1] = d[p[i] & 15];
  return s;
}

bool is_hex(const std::string& s, size_t nbytes) {
  if (s.size() != 2 * nbytes) return false;
  for (char c : s)
    if (hex_val(c) < 0) return false;
  return true;
}

std::vector<unsigned char> from_hex(const std::string& s, size_t nbytes, const std::string& where,
                                    const std::string& field) {
  SIGNET_CHECK(is_hex(s, nbytes), "{}: '{}' must be {} lowercase hex digits ({} bytes), got {} characters",
               where, field, 2 * nbytes, nbytes, s.size());
  std::vector<unsigned char> out(nbytes);
  for (size_t i = 0; i < nbytes; ++i) out[i] = static_cast<unsigned char>(hex_val(s[2 * i]) * 16 + hex_val(s[2 * i + 1]));
  return out;
}

void refuse_if_exists(const std::string& path) {
  SIGNET_CHECK(!exists(path), "'{}' already exists; refusing to overwrite it (choose another name or move it away)",
               path);
}

// write_file_atomic to a temporary, then link() it to `path`: link fails with EEXIST instead
// of replacing, so a file that appears meanwhile (another `identity new`) is never clobbered.
void write_new_file(const std::string& path, const std::string& bytes, unsigned mode) {
  refuse_if_exists(path);
  struct stat st;  // say so plainly here rather than through the temporary's name below
  const std::string dir = parent_dir(path);
  const bool found = ::stat(dir.c_str(), &st) == 0;
  SIGNET_CHECK(found && S_ISDIR(st.st_mode), "cannot write '{}': '{}' {}", path, dir,
               found ? "is not a directory" : fmt::format("cannot be used: {}", std::strerror(errno)));
  static std::atomic<unsigned> counter{0};
  const std::string tmp = fmt::format("{}.new.{}.{}.{}", path, static_cast<long>(::getpid()), counter++,
                                      std::chrono::steady_clock::now().time_since_epoch().count());
  write_file_atomic(tmp, bytes, mode);
  if (::link(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    const bool no_links = err == EPERM || err == ENOTSUP || err == EOPNOTSUPP || err == ENOSYS;
    // Filesystems without hard links: re-check, then rename (a narrow race remains there).
    if (no_links && !exists(path) && ::rename(tmp.c_str(), path.c_str()) == 0) return;
    ::unlink(tmp.c_str());
    refuse_if_exists(path);
    throw Error(fmt::format("cannot write '{}': {}", path, std::strerror(err)));
  }
  ::unlink(tmp.c_str());
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {  // make the new name durable; best effort, as in write_file_atomic
    (void)::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace signet::json_file
