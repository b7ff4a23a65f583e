// Files someone else sent, given to commands: devices, FIFOs, directories, files above the
// limit of their kind, gzip bombs. Each command exits 1 promptly with a message naming the path
// and the problem, and leaves no file behind.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <set>

#include "engine/serialize/safetensors.h"
#include "tests/cli/cli_run.h"

namespace fs = std::filesystem;
using signet::testing::CliRunSplit;
using signet::testing::run_signet_split;

namespace {

struct Dir : signet::testing::TempDir {
  Dir() : signet::testing::TempDir("signet_hostile_files_") {}
  std::set<std::string> entries() const {
    std::set<std::string> s;
    for (const auto& e : fs::directory_iterator(path)) s.insert(e.path().filename().string());
    return s;
  }
  std::string fifo(const std::string& name) const {
    const std::string p = file(name);
    EXPECT_EQ(::mkfifo(p.c_str(), 0600), 0) << p;
    return p;
  }
  std::string sparse(const std::string& name, uint64_t bytes) const {
    const std::string p = file(name);
    const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    EXPECT_GE(fd, 0) << p;
    EXPECT_EQ(::ftruncate(fd, static_cast<off_t>(bytes)), 0) << p;
    ::close(fd);
    return p;
  }
};

// Runs signet under `timeout` (a command that blocks, e.g. on a FIFO, exits 124 instead of
// hanging the suite) and checks: exit 1, every needle in stderr, no new file in `d`.
void expect_refused(const Dir& d, const std::string& args, const std::vector<std::string>& needles) {
  const std::set<std::string> before = d.entries();
  const CliRunSplit r = run_signet_split(args, "timeout 60");
  EXPECT_EQ(r.status, 1) << args << "\n" << r.err;
  for (const std::string& n : needles)
    EXPECT_NE(r.err.find(n), std::string::npos) << args << ": the message should say '" << n << "': " << r.err;
  EXPECT_EQ(d.entries(), before) << args << " left a file behind";
}

const std::string kSynthetic = " --dataset synthetic:1x28x28:10:300:100:3 --quiet --threads 1";

}  // namespace

TEST(CliHostileFiles, InfoRefusesDevicesFifosDirectoriesAndHugeFiles) {
  Dir d;
  expect_refused(d, "info /dev/zero", {"'/dev/zero'", "character device"});
  const std::string fifo = d.fifo("model.safetensors");
  expect_refused(d, "info " + fifo, {fifo, "FIFO"});
  expect_refused(d, "info " + d.path.string(), {d.path.string(), "directory"});
  const std::string huge = d.sparse("huge.safetensors", (uint64_t(4) << 30) + 1);
  expect_refused(d, "info " + huge, {huge, "more than the 4 GiB accepted for a safetensors file"});
}

TEST(CliHostileFiles, EveryKindOfInputRefusesAFifo) {
  Dir d;
  const std::string fifo = d.fifo("pipe");
  const std::string model = d.file("m.safetensors"), out = d.file("out.safetensors");
  const CliRunSplit t = run_signet_split("train --model mnist-mlp --epochs 1 --seed 1 --out " + model + kSynthetic);
  ASSERT_EQ(t.status, 0) << t.err;
  // Experiment configs, predict inputs, suspect models, keys, pattern images (identities and
  // certificates: tests/watermark/test_json_file_hostile.cpp).
  expect_refused(d, "evaluate --config " + fifo, {fifo, "config file", "FIFO"});
  expect_refused(d, "predict --weights " + model + " --input " + fifo + " --out " + out, {fifo, "FIFO"});
  const std::string input = d.file("input.safetensors");
  signet::NamedTensors in;
  in.tensors.emplace_back("input", signet::Tensor::zeros({1, 1, 28, 28}));
  signet::save_safetensors(input, in);
  expect_refused(d, "predict --weights /dev/zero --input " + input + " --out " + out,
                 {"/dev/zero", "character device"});
  expect_refused(d, "extract --keys " + fifo + " --weights " + model, {fifo, "FIFO"});
  expect_refused(d, "certify --identity " + d.file("me.key") + " --keys " + fifo + " --model " + model + " --out " +
                        d.file("c.cert"),
                 {fifo, "FIFO"});
  expect_refused(d, "embed --scheme zhang-content --keys 10 --pattern " + fifo + " --keys-out " + d.file("k.wmk") +
                        " --out " + out + kSynthetic,
                 {fifo, "pattern image", "FIFO"});
}

TEST(CliHostileFiles, ConfigAboveItsLimitIsRefused) {
  Dir d;
  const std::string big = d.sparse("big.toml", (uint64_t(1) << 20) + 1);
  expect_refused(d, "evaluate --config " + big, {big, "more than the 1 MiB accepted for a config file"});
}

TEST(CliHostileFiles, GzipBombDataSetIsRefusedWithoutInflating) {
  Dir d;
  // MNIST-named files whose images member declares 2 images of 28x28 and then inflates to
  // 128 MiB of zeros; the labels are valid.
  auto gz = [&](const std::string& name, std::vector<uint8_t> head, size_t zeros) {
    gzFile f = gzopen(d.file(name).c_str(), "wb1");
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(gzwrite(f, head.data(), static_cast<unsigned>(head.size())), int(head.size()));
    const std::vector<char> block(1 << 20, 0);
    for (size_t left = zeros; left > 0;) {
      const size_t n = std::min(left, block.size());
      ASSERT_EQ(gzwrite(f, block.data(), static_cast<unsigned>(n)), int(n));
      left -= n;
    }
    ASSERT_EQ(gzclose(f), Z_OK);
  };
  gz("train-images-idx3-ubyte.gz", {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 28, 0, 0, 0, 28}, size_t(128) << 20);
  gz("train-labels-idx1-ubyte.gz", {0, 0, 8, 1, 0, 0, 0, 2, 3, 4}, 0);
  const std::string images = d.file("train-images-idx3-ubyte.gz");
  expect_refused(d,
                 "train --model mnist-mlp --dataset mnist --data-dir " + d.path.string() +
                     " --epochs 1 --quiet --out " + d.file("m.safetensors"),
                 {images, "gzip bomb"});
}
