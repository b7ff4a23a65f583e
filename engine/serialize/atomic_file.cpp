#include "engine/serialize/atomic_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>

#include "engine/error.h"

namespace signet {
namespace {

std::string os_reason(int err) { return std::strerror(err); }

std::string parent_dir(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Unique enough that two processes (or two threads) writing the same target never share a
// temporary; O_EXCL below catches the astronomically unlikely collision.
uint64_t random_suffix() {
  static std::atomic<uint64_t> counter{0};
  uint64_t r = static_cast<uint64_t>(
      std::chrono::steady_clock::now().time_since_epoch().count());
  try {
    std::random_device rd;
    r ^= (static_cast<uint64_t>(rd()) << 32) ^ rd();
  } catch (...) {
    // No entropy source: time and the counter still make the name unique within this host.
  }
  return r ^ (counter.fetch_add(1) * 0x9E3779B97F4A7C15ull);
}

// Closes the descriptor and unlinks the temporary unless release() was called.
struct TempGuard {
  int fd = -1;
  std::string tmp;
  bool armed = true;
  ~TempGuard() {
    if (fd >= 0) ::close(fd);
    if (armed && !tmp.empty()) ::unlink(tmp.c_str());
  }
};

// The temporary's name for a target: path + ".tmp.<pid>.<16 hex>".
std::string temp_name(const std::string& path, long pid, uint64_t suffix) {
  return fmt::format("{}.tmp.{}.{:016x}", path, pid, suffix);
}

// The writer's pid if `name` is exactly base + ".tmp.<pid>.<16 lowercase hex>" (temp_name's
// pattern for that target), else 0: nothing else is ever touched.
long temp_writer_pid(const std::string& name, const std::string& base) {
  const std::string prefix = base + ".tmp.";
  if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) return 0;
  const size_t dot = name.find('.', prefix.size());
  const size_t digits = dot == std::string::npos ? 0 : dot - prefix.size();
  if (digits == 0 || digits > 9 || name[prefix.size()] == '0' || name.size() != dot + 1 + 16) return 0;
  long pid = 0;
  for (size_t i = prefix.size(); i < dot; ++i) {
    if (name[i] < '0' || name[i] > '9') return 0;
    pid = pid * 10 + (name[i] - '0');
  }
  for (size_t i = dot + 1; i < name.size(); ++i)
    if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f'))) return 0;
  return pid;
}

// When the process `pid` started, in seconds since the epoch; -1 if unknown. From
// /proc/<pid>/stat (start time in clock ticks after boot, field 22) and /proc/stat's btime.
double process_start_time(long pid) {
  double boot = -1, ticks_after_boot = -1;
  if (std::FILE* f = std::fopen("/proc/stat", "re")) {
    char line[256];
    long long btime;
    while (std::fgets(line, sizeof line, f))
      if (std::sscanf(line, "btime %lld", &btime) == 1) boot = static_cast<double>(btime);
    std::fclose(f);
  }
  if (std::FILE* f = std::fopen(fmt::format("/proc/{}/stat", pid).c_str(), "re")) {
    char buf[1024];
    const size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    buf[n] = 0;
    // The command name (field 2) may hold spaces and parentheses: fields 3.. follow the last ')'.
    const char* p = std::strrchr(buf, ')');
    unsigned long long start = 0;
    if (p && std::sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
                         &start) == 1)
      ticks_after_boot = static_cast<double>(start);
  }
  const long hz = ::sysconf(_SC_CLK_TCK);
  if (boot < 0 || ticks_after_boot < 0 || hz <= 0) return -1;
  return boot + ticks_after_boot / static_cast<double>(hz);
}

// A temporary's writer is gone when no process has its pid, or when the process that has it
// now started after the temporary was last written (the pid was reused). A process we cannot
// signal (EPERM) is alive. The margin covers the second-granular boot time.
bool writer_is_gone(long pid, const struct stat& st) {
  if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) return true;
  const double started = process_start_time(pid);
  const double written = static_cast<double>(st.st_mtim.tv_sec) + 1e-9 * static_cast<double>(st.st_mtim.tv_nsec);
  return started >= 0 && written + 2.0 < started;
}

// Removes the temporaries a killed writer left for `path` (kill -9 during a write skips every
// cleanup). Best effort and silent: the write itself has already succeeded.
void remove_stale_temporaries(const std::string& path) noexcept {
  try {
    const size_t slash = path.rfind('/');
    const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
    const int dfd = ::open(parent_dir(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return;
    DIR* dir = ::fdopendir(dfd);
    if (!dir) {
      ::close(dfd);
      return;
    }
    while (const dirent* e = ::readdir(dir)) {
      const std::string name = e->d_name;
      const long pid = temp_writer_pid(name, base);
      struct stat st;
      if (pid <= 0 || ::fstatat(dfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
        continue;
      if (writer_is_gone(pid, st)) (void)::unlinkat(dfd, name.c_str(), 0);
    }
    ::closedir(dir);  // closes dfd
  } catch (...) {
    // Out of memory while formatting names: leave the temporaries for the next write.
  }
}

}  // namespace

namespace {

// The two ways a complete temporary becomes `path`: rename (replaces) or link (refuses an
// existing name, EEXIST, so a file that appeared meanwhile is never clobbered).
enum class Publish { kReplace, kNew };

void write_then_publish(const std::string& path, const std::string& bytes, unsigned mode, Publish how) {
  SIGNET_CHECK(!path.empty(), "cannot write a file with an empty path");
  SIGNET_CHECK(path.back() != '/', "cannot write '{}': the path names a directory", path);
  TempGuard g;
  for (int attempt = 0; attempt < 8 && g.fd < 0; ++attempt) {
    g.tmp = temp_name(path, static_cast<long>(::getpid()), random_suffix());
    g.fd = ::open(g.tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (g.fd < 0 && errno != EEXIST) {
      const int err = errno;
      g.tmp.clear();  // nothing was created, nothing to unlink
      throw Error(fmt::format("cannot write '{}': cannot create a temporary in '{}': {}", path,
                              parent_dir(path), os_reason(err)));
    }
  }
  if (g.fd < 0) {
    g.tmp.clear();
    throw Error(fmt::format("cannot write '{}': no free temporary name", path));
  }
  if (::fchmod(g.fd, static_cast<mode_t>(mode & 07777)) != 0)
    throw Error(fmt::format("cannot write '{}': fchmod: {}", path, os_reason(errno)));

  const char* p = bytes.data();
  size_t left = bytes.size();
  while (left > 0) {
    const ssize_t n = ::write(g.fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error(fmt::format("cannot write '{}': {}", path, os_reason(errno)));
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  // fsync before rename: otherwise a crash can leave the new name pointing at empty data.
  if (::fsync(g.fd) != 0)
    throw Error(fmt::format("cannot write '{}': fsync: {}", path, os_reason(errno)));
  const int fd = g.fd;
  g.fd = -1;
  if (::close(fd) != 0)
    throw Error(fmt::format("cannot write '{}': close: {}", path, os_reason(errno)));
  if (how == Publish::kReplace) {
    if (::rename(g.tmp.c_str(), path.c_str()) != 0)
      throw Error(fmt::format("cannot write '{}': rename: {}", path, os_reason(errno)));
    g.armed = false;
  } else if (::link(g.tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    SIGNET_CHECK(err != EEXIST, "'{}' already exists; refusing to overwrite it (choose another name or move it away)",
                 path);
    // Filesystems without hard links: re-check, then rename (a narrow race remains there).
    struct stat st;
    const bool no_links = err == EPERM || err == ENOTSUP || err == EOPNOTSUPP || err == ENOSYS;
    if (!no_links || ::lstat(path.c_str(), &st) == 0 || ::rename(g.tmp.c_str(), path.c_str()) != 0)
      throw Error(fmt::format("cannot write '{}': link: {}", path, os_reason(err)));
    g.armed = false;
  }  // else the guard unlinks the temporary: `path` is now the file's only name

  // Make the rename itself durable. Best effort: some filesystems refuse fsync on directories,
  // and the new file is already complete and in place.
  const int dfd = ::open(parent_dir(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
  remove_stale_temporaries(path);
}

}  // namespace

void write_file_atomic(const std::string& path, const std::string& bytes, unsigned mode) {
  write_then_publish(path, bytes, mode, Publish::kReplace);
}

void write_new_file_atomic(const std::string& path, const std::string& bytes, unsigned mode) {
  write_then_publish(path, bytes, mode, Publish::kNew);
}

// ---------------------------------------------------------------- SHA-256 (FIPS 180-4)
namespace {

constexpr uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

inline uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

void compress(uint32_t h[8], const unsigned char* block) {
  uint32_t w[64];
  for (int i = 0; i < 16; ++i)
    w[i] = (uint32_t(block[4 * i]) << 24) | (uint32_t(block[4 * i + 1]) << 16) |
           (uint32_t(block[4 * i + 2]) << 8) | uint32_t(block[4 * i + 3]);
  for (int i = 16; i < 64; ++i) {
    const uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
    const uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
  for (int i = 0; i < 64; ++i) {
    const uint32_t t1 = hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
    const uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    hh = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
  }
  h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
}

}  // namespace

std::string sha256_hex(const std::string& bytes) {
  uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  size_t i = 0;
  for (; i + 64 <= n; i += 64) compress(h, data + i);
  // Final block(s): the rest, 0x80, zeros, and the bit length as a big-endian u64.
  unsigned char tail[128] = {};
  const size_t rest = n - i;
  std::memcpy(tail, data + i, rest);
  tail[rest] = 0x80;
  const size_t tail_len = rest + 1 + 8 <= 64 ? 64 : 128;
  const uint64_t bits = static_cast<uint64_t>(n) * 8;
  for (int b = 0; b < 8; ++b) tail[tail_len - 1 - b] = static_cast<unsigned char>(bits >> (8 * b));
  for (size_t off = 0; off < tail_len; off += 64) compress(h, tail + off);
  std::string out;
  out.reserve(64);
  for (uint32_t v : h) out += fmt::format("{:08x}", v);
  return out;
}

}  // namespace signet
