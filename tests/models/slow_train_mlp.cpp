// End-to-end (label `slow`): the acceptance run through the real command line.
// signet train --model mnist-mlp --dataset fashion-mnist --epochs 5 --seed 1 reaches >= 88%.
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

namespace fs = std::filesystem;

TEST(SlowTrain, MlpOnFashionMnistReaches88PercentIn5Epochs) {
  if (!fs::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  const fs::path out = fs::temp_directory_path() / ("signet_slow_" + std::to_string(getpid()) + ".safetensors");
  const std::string cmd = std::string(SIGNET_BIN) +
                          " train --model mnist-mlp --dataset fashion-mnist --epochs 5 --seed 1 --quiet --json --out " +
                          out.string();
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string text;
  std::array<char, 4096> buf;
  while (size_t n = fread(buf.data(), 1, buf.size(), p)) text.append(buf.data(), n);
  ASSERT_EQ(pclose(p), 0) << text;
  const auto j = nlohmann::json::parse(text);
  EXPECT_GE(j.at("test_accuracy").get<double>(), 0.88) << text;
  EXPECT_EQ(j.at("epochs").get<int>(), 5);
  EXPECT_EQ(j.at("seed").get<int>(), 1);
  // The saved file evaluates to the same accuracy.
  const std::string ev = std::string(SIGNET_BIN) + " evaluate --json --weights " + out.string();
  FILE* q = popen(ev.c_str(), "r");
  std::string t2;
  while (size_t n = fread(buf.data(), 1, buf.size(), q)) t2.append(buf.data(), n);
  ASSERT_EQ(pclose(q), 0) << t2;
  EXPECT_DOUBLE_EQ(nlohmann::json::parse(t2).at("accuracy").get<double>(), j.at("test_accuracy").get<double>());
  fs::remove(out);
}
