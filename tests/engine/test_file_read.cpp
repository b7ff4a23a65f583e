// read_file on hostile paths: devices, FIFOs, directories and oversize files are refused
// promptly, with a message naming the path, before anything is allocated for them.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <future>
#include <string>

#include "tests/scratch_dir.h"
#include "engine/error.h"
#include "engine/serialize/file_read.h"

using namespace signet;

namespace {

struct TempDir : signet::testing::ScratchDir {
  TempDir() : ScratchDir("signet_file_read_") {}
};

void write(const std::string& path, const std::string& bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  ::close(fd);
}

// The message read_file throws for `path`, or "" when it reads it.
std::string error_of(const std::string& path, const FileKind& kind = file_kind::kTensors) {
  try {
    read_file(path, kind);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(FileRead, ReadsRegularFilesWhole) {
  TempDir d;
  std::string big(300000, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7);
  write(d.file("big"), big);
  EXPECT_EQ(read_file(d.file("big")), big);
  const std::vector<uint8_t> bytes = read_file_bytes(d.file("big"), file_kind::kDataset);
  EXPECT_EQ(std::string(bytes.begin(), bytes.end()), big);
  write(d.file("empty"), "");
  EXPECT_EQ(read_file(d.file("empty")), "");
  // Exactly at the limit is accepted.
  write(d.file("ten"), "0123456789");
  EXPECT_EQ(read_file(d.file("ten"), FileKind{"test file", 10}), "0123456789");
}

TEST(FileRead, MissingFileNamesPathAndReason) {
  TempDir d;
  const std::string msg = error_of(d.file("absent"), file_kind::kConfig);
  EXPECT_NE(msg.find(d.file("absent")), std::string::npos) << msg;
  EXPECT_NE(msg.find("config file"), std::string::npos) << msg;
  EXPECT_NE(msg.find("No such file"), std::string::npos) << msg;
}

TEST(FileRead, RefusesCharacterDevice) {
  const std::string msg = error_of("/dev/zero");
  EXPECT_NE(msg.find("'/dev/zero'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("character device"), std::string::npos) << msg;
}

TEST(FileRead, RefusesDirectory) {
  TempDir d;
  const std::string msg = error_of(d.path);
  EXPECT_NE(msg.find(d.path), std::string::npos) << msg;
  EXPECT_NE(msg.find("a directory"), std::string::npos) << msg;
}

TEST(FileRead, RefusesFifoWithoutBlocking) {
  TempDir d;
  const std::string fifo = d.file("pipe");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto result = std::async(std::launch::async, [&] { return error_of(fifo); });
  if (result.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    ADD_FAILURE() << "read_file blocked on a FIFO with no writer";
    // Unblock the reader (open for writing) so the test can finish.
    const int fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
    if (fd >= 0) ::close(fd);
  }
  const std::string msg = result.get();
  EXPECT_NE(msg.find(fifo), std::string::npos) << msg;
  EXPECT_NE(msg.find("FIFO"), std::string::npos) << msg;
}

TEST(FileRead, RefusesFilesAboveTheLimitOfTheirKind) {
  TempDir d;
  write(d.file("eleven"), "0123456789a");
  std::string msg = error_of(d.file("eleven"), FileKind{"test file", 10});
  EXPECT_NE(msg.find(d.file("eleven")), std::string::npos) << msg;
  EXPECT_NE(msg.find("11 bytes, more than the 10 bytes accepted for a test file"), std::string::npos) << msg;

  // A sparse file just over the limit for models costs no disk, and must be refused from its
  // size alone: were it allocated and read, this test would take seconds and 4 GiB.
  const std::string sparse = d.file("huge.safetensors");
  const int fd = ::open(sparse.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  const bool sized = ::ftruncate(fd, static_cast<off_t>(file_kind::kTensors.max_bytes + 1)) == 0;
  ::close(fd);
  if (!sized) GTEST_SKIP() << "this filesystem cannot hold a sparse 4 GiB file";
  msg = error_of(sparse);
  EXPECT_NE(msg.find(sparse), std::string::npos) << msg;
  EXPECT_NE(msg.find("more than the 4 GiB accepted for a safetensors file"), std::string::npos) << msg;
}
