// Atomic writes (target untouched on failure, no temporaries left, permissions honoured),
// read_file errors, and SHA-256 against the FIPS 180-2 vectors.
#include <gtest/gtest.h>

#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/serialize/atomic_file.h"
#include "engine/serialize/file_read.h"

using namespace signet;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/signet_atomic_XXXXXX";
    if (!mkdtemp(tmpl)) std::abort();
    path = tmpl;
  }
  ~TempDir() { std::system(("rm -rf '" + path + "'").c_str()); }
  std::vector<std::string> entries() const {
    std::vector<std::string> out;
    if (DIR* d = opendir(path.c_str())) {
      while (dirent* e = readdir(d))
        if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") out.push_back(e->d_name);
      closedir(d);
    }
    return out;
  }
};

unsigned file_mode(const std::string& p) {
  struct stat st;
  EXPECT_EQ(stat(p.c_str(), &st), 0);
  return st.st_mode & 07777;
}

std::string error_of(const std::string& path, const std::string& bytes) {
  try {
    write_file_atomic(path, bytes);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(AtomicFile, WritesReplacesAndLeavesNoTemporaries) {
  TempDir dir;
  const std::string p = dir.path + "/model.safetensors";
  write_file_atomic(p, "first");
  EXPECT_EQ(read_file(p), "first");
  const std::string big(3 << 20, 'z');  // several write() calls' worth
  write_file_atomic(p, big);
  EXPECT_EQ(read_file(p), big);
  write_file_atomic(p, "");
  EXPECT_EQ(read_file(p), "");
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"model.safetensors"});
}

TEST(AtomicFile, ModeIsHonouredRegardlessOfUmask) {
  TempDir dir;
  const mode_t old = umask(0);
  write_file_atomic(dir.path + "/keys", "secret", 0600);
  umask(077);
  write_file_atomic(dir.path + "/model", "weights", 0644);
  umask(old);
  EXPECT_EQ(file_mode(dir.path + "/keys"), 0600u);
  EXPECT_EQ(file_mode(dir.path + "/model"), 0644u);
  // Replacing a world-readable file with a key file tightens it.
  write_file_atomic(dir.path + "/model", "now secret", 0600);
  EXPECT_EQ(file_mode(dir.path + "/model"), 0600u);
}

TEST(AtomicFile, TargetIsADirectory) {
  TempDir dir;
  const std::string target = dir.path + "/out";
  ASSERT_EQ(mkdir(target.c_str(), 0755), 0);
  const std::string m = error_of(target, "data");
  EXPECT_NE(m.find(target), std::string::npos) << m;
  struct stat st;
  ASSERT_EQ(stat(target.c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"out"}) << "temporary left behind";
  EXPECT_NE(error_of(target + "/", "data"), "");
}

TEST(AtomicFile, MissingParentDirectory) {
  TempDir dir;
  const std::string p = dir.path + "/no/such/dir/file";
  const std::string m = error_of(p, "data");
  EXPECT_NE(m.find(p), std::string::npos) << m;
  EXPECT_NE(m.find("No such file or directory"), std::string::npos) << m;
  EXPECT_TRUE(dir.entries().empty());
}

TEST(AtomicFile, ReadOnlyDirectoryLeavesTargetUntouched) {
  if (geteuid() == 0) GTEST_SKIP() << "root ignores directory permissions";
  TempDir dir;
  const std::string p = dir.path + "/ckpt";
  write_file_atomic(p, "old");
  ASSERT_EQ(chmod(dir.path.c_str(), 0500), 0);
  const std::string m = error_of(p, "new");
  chmod(dir.path.c_str(), 0700);
  EXPECT_NE(m.find(p), std::string::npos) << m;
  EXPECT_NE(m.find("Permission denied"), std::string::npos) << m;
  EXPECT_EQ(read_file(p), "old");
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"ckpt"});
}

// A failure in the middle of writing (here: the file-size limit, EFBIG) must remove the
// temporary and keep the old target. Runs in a child so the limit cannot touch anything else.
TEST(AtomicFile, WriteFailureMidwayLeavesTargetUntouched) {
  TempDir dir;
  const std::string p = dir.path + "/ckpt";
  write_file_atomic(p, "old contents");
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    signal(SIGXFSZ, SIG_IGN);
    rlimit lim;
    getrlimit(RLIMIT_FSIZE, &lim);
    lim.rlim_cur = 4096;
    setrlimit(RLIMIT_FSIZE, &lim);
    try {
      write_file_atomic(p, std::string(1 << 20, 'x'));
    } catch (const Error& e) {
      const std::string m = e.what();
      _exit(m.find(p) != std::string::npos && m.find("too large") != std::string::npos ? 0 : 2);
    }
    _exit(1);  // no error: the limit did not bite
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: no Error was thrown; 2: message lacks path/reason";
  EXPECT_EQ(read_file(p), "old contents");
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"ckpt"});
}

TEST(AtomicFile, ReadFileErrorsNameThePath) {
  TempDir dir;
  const std::string missing = dir.path + "/missing.safetensors";
  try {
    read_file(missing);
    FAIL() << "expected Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(missing), std::string::npos) << e.what();
  }
  EXPECT_THROW(read_file(dir.path), Error);
}

TEST(Sha256, FipsVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, PaddingBoundaries) {  // lengths around the 55/56/64-byte padding edges (hashlib)
  const std::pair<size_t, const char*> cases[] = {
      {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
      {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
      {63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
      {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
      {119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"},
      {120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c"},
  };
  for (const auto& [n, hex] : cases) EXPECT_EQ(sha256_hex(std::string(n, 'a')), hex) << n;
}
