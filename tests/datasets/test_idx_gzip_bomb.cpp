// Gzip IDX files that inflate beyond what their header declares (gzip bombs), or declare more
// than they hold: refused with a message naming the file, in a child process whose peak memory
// is measured, so a reader that inflated the whole stream first would fail here.
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "tests/scratch_dir.h"
#include "datasets/idx.h"
#include "engine/error.h"

using namespace signet;

namespace {

using Bytes = std::vector<uint8_t>;

struct TempDir : signet::testing::ScratchDir {
  TempDir() : ScratchDir("signet_idx_bomb_") {}
};

Bytes idx_header(const std::vector<uint32_t>& dims) {
  Bytes b = {0, 0, 0x08, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims)
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(d >> s));
  return b;
}

// Appends one gzip member holding `head` and then `zeros` zero bytes, written with zlib's gzip
// functions at the fastest level (zeros compress about 1000-fold either way).
void append_gzip_member(const std::string& path, const Bytes& head, size_t zeros) {
  gzFile f = gzopen(path.c_str(), "ab1");
  ASSERT_NE(f, nullptr) << path;
  if (!head.empty()) ASSERT_EQ(gzwrite(f, head.data(), static_cast<unsigned>(head.size())), int(head.size()));
  const std::vector<char> block(1 << 20, 0);
  while (zeros > 0) {
    const size_t n = std::min(zeros, block.size());
    ASSERT_EQ(gzwrite(f, block.data(), static_cast<unsigned>(n)), int(n));
    zeros -= n;
  }
  ASSERT_EQ(gzclose(f), Z_OK);
}

long resident_kib() {
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return resident * (::sysconf(_SC_PAGESIZE) / 1024);
}

// Runs read_idx(path) in a child process. Passes when it throws Error naming the path and
// `needle`, and the child's peak resident memory grew by less than `max_growth_mib`.
void expect_refused_cheaply(const std::string& path, const std::string& needle, long max_growth_mib) {
  const long before_kib = resident_kib();
  std::fflush(nullptr);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    int code = 3;  // no error at all
    try {
      (void)read_idx(path);
    } catch (const Error& e) {
      const std::string msg = e.what();
      code = msg.find(path) != std::string::npos && msg.find(needle) != std::string::npos ? 0 : 2;
      if (code != 0) std::fprintf(stderr, "unexpected message: %s\n", msg.c_str());
    } catch (const std::exception& e) {
      std::fprintf(stderr, "not a signet::Error: %s\n", e.what());
      code = 4;
    }
    ::_exit(code);
  }
  int status = 0;
  struct rusage ru {};
  ASSERT_EQ(::wait4(child, &status, 0, &ru), child);
  ASSERT_TRUE(WIFEXITED(status)) << "the reader was killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0) << "3: no error, 2: the message does not name the file and '" << needle
                                    << "', 4: another exception type";
  // Under AddressSanitizer freed buffers stay resident in its quarantine (up to 256 MiB).
  const long budget_mib = max_growth_mib + (signet::testing::kAddressSanitizer ? 320 : 0);
  EXPECT_LT(ru.ru_maxrss - before_kib, budget_mib * 1024)
      << "peak memory grew by " << (ru.ru_maxrss - before_kib) / 1024 << " MiB reading " << path;
}

}  // namespace

TEST(IdxGzipBomb, OneMemberInflatingFarBeyondTheHeaderIsRefused) {
  TempDir d;
  // Declares 16 labels, then inflates to 128 MiB of zeros from a ~130 KB file.
  const std::string p = d.file("bomb-labels-idx1-ubyte.gz");
  Bytes head = idx_header({16});
  head.resize(head.size() + 16, 1);
  append_gzip_member(p, head, size_t(128) << 20);
  expect_refused_cheaply(p, "decompresses to more than the 24 bytes its IDX header (16) declares", 32);
}

TEST(IdxGzipBomb, ConcatenatedMembersInflatingToGigabytesAreRefused) {
  TempDir d;
  // One member holding a complete small image file, then 1024 members of 1 MiB of zeros each:
  // 1 GiB behind a 1 MB file. Only the first byte past the declared size is ever inflated.
  const std::string p = d.file("bomb-images-idx3-ubyte.gz");
  Bytes head = idx_header({2, 4, 4});
  head.resize(head.size() + 32, 7);
  append_gzip_member(p, head, 0);
  Bytes member;
  {
    const std::string one = d.file("one.gz");
    append_gzip_member(one, {}, size_t(1) << 20);
    FILE* f = std::fopen(one.c_str(), "rb");
    ASSERT_NE(f, nullptr);
    int c;
    while ((c = std::fgetc(f)) != EOF) member.push_back(static_cast<uint8_t>(c));
    std::fclose(f);
  }
  FILE* f = std::fopen(p.c_str(), "ab");
  ASSERT_NE(f, nullptr);
  for (int i = 0; i < 1024; ++i) ASSERT_EQ(std::fwrite(member.data(), 1, member.size(), f), member.size());
  std::fclose(f);
  expect_refused_cheaply(p, "gzip bomb", 32);
}

TEST(IdxGzipBomb, DeclaredPayloadLargerThanTheStreamCostsOnlyWhatArrives) {
  TempDir d;
  // Declares 1.5e9 bytes (under the 2 GiB limit) but holds 1 MiB: refused as truncated, and
  // memory follows the data that arrived, not the declaration.
  const std::string p = d.file("short-images-idx3-ubyte.gz");
  append_gzip_member(p, idx_header({1500, 1000, 1000}), size_t(1) << 20);
  expect_refused_cheaply(p, "truncated", 48);
}

TEST(IdxGzipBomb, DeclaredSizeAboveTheLimitIsRefusedBeforeInflating) {
  TempDir d;
  const std::string p = d.file("huge-images-idx3-ubyte.gz");
  append_gzip_member(p, idx_header({65536, 256, 256}), 64);
  expect_refused_cheaply(p, "more than the 2147483648 bytes Signet reads from one IDX file", 8);
}
