// write_file_atomic removes the temporaries a killed writer left for its target (dead pid, or a
// pid reused by a process started after the temporary was written), and nothing else: not a
// living writer's temporary, not a file of a similar name, not another target's temporary.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "tests/scratch_dir.h"
#include "engine/serialize/atomic_file.h"
#include "engine/serialize/file_read.h"

using namespace signet;

namespace {

struct TempDir : signet::testing::ScratchDir {
  TempDir() : ScratchDir("signet_stale_") {}
};

bool exists(const std::string& p) {
  struct stat st;
  return ::lstat(p.c_str(), &st) == 0;
}

void touch(const std::string& p, time_t age_seconds = 0) {
  const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(fd, 0) << p;
  ASSERT_EQ(::write(fd, "partial", 7), 7);
  ::close(fd);
  if (age_seconds > 0) {
    const timespec t{::time(nullptr) - age_seconds, 0};
    const timespec times[2] = {t, t};
    ASSERT_EQ(::utimensat(AT_FDCWD, p.c_str(), times, 0), 0);
  }
}

// A pid that belonged to a process which has exited and been reaped.
long dead_pid() {
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  int status = 0;
  ::waitpid(child, &status, 0);
  return static_cast<long>(child);
}

}  // namespace

TEST(AtomicFileStaleTemps, RemovesOnlyTemporariesWhoseWriterIsGone) {
  TempDir d;
  const std::string target = d.file("model.safetensors");
  const std::string hex = "0123456789abcdef";
  const long dead = dead_pid(), self = static_cast<long>(::getpid()), parent = static_cast<long>(::getppid());
  auto temp = [&](long pid, const std::string& suffix = "0123456789abcdef") {
    return target + ".tmp." + std::to_string(pid) + "." + suffix;
  };

  // Stale: the writer's pid is gone; the pid now belongs to a process started later than the
  // temporary was last written (this process, an hour younger than the file).
  const std::string dead_temp = temp(dead), reused_temp = temp(self, "fedcba9876543210");
  touch(dead_temp);
  touch(reused_temp, 3600);

  // Kept: living writers' fresh temporaries (this process, its parent), names that only look
  // like ours, another target's temporary, and a directory or symlink of our pattern.
  const std::vector<std::string> kept = {
      temp(self),
      temp(parent),
      temp(dead, "0123456789abcde"),          // 15 hex digits
      temp(dead, "0123456789ABCDEF"),         // upper case: not what we write
      temp(dead) + ".bak",
      target + ".tmp.0" + std::to_string(dead) + "." + hex,  // leading zero
      target + ".tmp." + std::to_string(dead) + "x." + hex,
      target + ".tmp.." + hex,
      d.file("other.safetensors.tmp." + std::to_string(dead) + "." + hex),
      d.file("model.tmp." + std::to_string(dead) + "." + hex),
  };
  for (const std::string& k : kept) touch(k);
  const std::string dir_like = temp(dead, "aaaaaaaaaaaaaaaa"), link_like = temp(dead, "bbbbbbbbbbbbbbbb");
  ASSERT_EQ(::mkdir(dir_like.c_str(), 0700), 0);
  ASSERT_EQ(::symlink(dead_temp.c_str(), link_like.c_str()), 0);

  write_file_atomic(target, "new contents");
  EXPECT_EQ(read_file(target), "new contents");
  EXPECT_FALSE(exists(dead_temp)) << "a dead writer's temporary was left";
  EXPECT_FALSE(exists(reused_temp)) << "a temporary older than the process now holding its pid was left";
  for (const std::string& k : kept) EXPECT_TRUE(exists(k)) << k << " was removed";
  EXPECT_TRUE(exists(dir_like));
  EXPECT_TRUE(exists(link_like));
}

TEST(AtomicFileStaleTemps, WriteSucceedsWhenTheDirectoryHoldsNothingStale) {
  TempDir d;
  const std::string target = d.file("k.wmk");
  write_file_atomic(target, "a");
  write_file_atomic(target, "b");
  EXPECT_EQ(read_file(target), "b");
}

// Identities and certificates are written with write_new_file_atomic: same temporary naming,
// so a killed `identity new` leaves nothing that a later write of that name does not remove;
// and an existing file is refused, never replaced.
TEST(AtomicFileStaleTemps, NewFileWriterUsesTheSamePatternAndRefusesAnExistingFile) {
  TempDir dir;
  const std::string target = dir.file("owner.key");
  const std::string stale = target + ".tmp." + std::to_string(dead_pid()) + ".00000000deadbeef";
  touch(stale);
  write_new_file_atomic(target, "secret", 0600);
  EXPECT_FALSE(exists(stale));
  EXPECT_EQ(read_file(target), "secret");
  struct stat st;
  ASSERT_EQ(::stat(target.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_nlink, 1u) << "the temporary's name must be gone once the file is published";
  try {
    write_new_file_atomic(target, "other", 0600);
    FAIL() << "an existing file was replaced";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("already exists"), std::string::npos) << e.what();
  }
  EXPECT_EQ(read_file(target), "secret");
  // Nothing but the target is left in the directory.
  EXPECT_EQ(std::system(("test $(ls -A '" + dir.path + "' | wc -l) -eq 1").c_str()), 0);
}
