// Identity, public key and certificate files that are not files: a FIFO (must not block), a
// device, a directory, or a file above the 64 KiB limit. Each is an Error naming the path.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <future>
#include <string>

#include "tests/scratch_dir.h"
#include "engine/error.h"
#include "watermark/verify/certificate.h"

using namespace signet;

namespace {

struct TempDir : signet::testing::ScratchDir {
  TempDir() : ScratchDir("signet_cert_hostile_") {}
};

// Runs fn on another thread (so a reader blocked on a FIFO fails the test instead of hanging
// it) and returns the Error message it throws.
std::string error_of(const std::function<void()>& fn, const std::string& fifo_to_unblock = "") {
  auto result = std::async(std::launch::async, [&]() -> std::string {
    try {
      fn();
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  });
  if (result.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    ADD_FAILURE() << "the reader blocked";
    const int fd = ::open(fifo_to_unblock.c_str(), O_WRONLY | O_NONBLOCK);
    if (fd >= 0) ::close(fd);
  }
  return result.get();
}

void expect_mentions(const std::string& msg, const std::vector<std::string>& needles) {
  for (const std::string& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << "'" << n << "' in: " << msg;
}

}  // namespace

TEST(CertificateHostileFiles, FifoDeviceDirectoryAndOversizeAreErrors) {
  TempDir d;
  const std::string fifo = d.file("alice.pub");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const std::string hash(64, 'a');
  expect_mentions(error_of([&] { read_public_key(fifo); }, fifo), {fifo, "public key file", "FIFO"});
  expect_mentions(error_of([&] { check_certificate(fifo, hash, hash); }, fifo), {fifo, "certificate", "FIFO"});
  expect_mentions(error_of([&] { certify(fifo, hash, hash, "uchida", d.file("c.cert")); }, fifo),
                  {fifo, "identity key file", "FIFO"});
  expect_mentions(error_of([&] { read_public_key("/dev/zero"); }), {"/dev/zero", "character device"});
  expect_mentions(error_of([&] { check_certificate(d.path, hash, hash); }), {d.path, "directory"});

  const std::string big = d.file("big.cert");
  const int fd = ::open(big.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, 64 * 1024 + 1), 0);
  ::close(fd);
  expect_mentions(error_of([&] { check_certificate(big, hash, hash); }), {big, "more than the 64 KiB"});
  EXPECT_NE(::access(d.file("c.cert").c_str(), F_OK), 0) << "certify left a certificate behind";
}
