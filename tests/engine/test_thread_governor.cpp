// The thread governor: how many threads for a given load, and when the count may change.
#include <gtest/gtest.h>
#include <omp.h>

#include <cstdlib>
#include <string>

#include "engine/thread_governor.h"

namespace signet {
namespace {

TEST(ThreadGovernor, ThreadsForLoadLeavesOtherProcessesTheirCores) {
  EXPECT_EQ(threads::threads_for_load(2, 0.0), 2);    // idle machine: every core
  EXPECT_EQ(threads::threads_for_load(2, 0.2), 2);    // a niced build only gets leftovers
  EXPECT_EQ(threads::threads_for_load(2, 1.0), 1);    // another job holds one core
  EXPECT_EQ(threads::threads_for_load(2, 1.33), 1);   // and more while we run one thread
  EXPECT_EQ(threads::threads_for_load(2, 2.0), 1);    // never fewer than one
  EXPECT_EQ(threads::threads_for_load(8, 3.0), 5);
  EXPECT_EQ(threads::threads_for_load(8, -0.5), 8);   // clock jitter cannot add cores
  EXPECT_EQ(threads::threads_for_load(1, 0.0), 1);
}

class ThreadGovernorConfig : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* v = std::getenv("SIGNET_ADAPTIVE_THREADS");
    had_env_ = v != nullptr;
    if (had_env_) env_ = v;
    before_ = omp_get_max_threads();
  }
  void TearDown() override {
    if (had_env_) setenv("SIGNET_ADAPTIVE_THREADS", env_.c_str(), 1);
    else unsetenv("SIGNET_ADAPTIVE_THREADS");
    threads::configure_fixed(before_);
  }
  bool had_env_ = false;
  std::string env_;
  int before_ = 1;
};

TEST_F(ThreadGovernorConfig, AnExplicitCountIsFixed) {
  unsetenv("SIGNET_ADAPTIVE_THREADS");
  threads::configure(1);
  EXPECT_FALSE(threads::adaptive());
  EXPECT_EQ(threads::current(), 1);
  EXPECT_EQ(threads::limit(), 1);
  threads::adapt();
  EXPECT_EQ(threads::current(), 1);
  threads::configure_fixed(0);
  EXPECT_FALSE(threads::adaptive());
}

TEST_F(ThreadGovernorConfig, AllCoresAdaptUnlessTheEnvironmentSaysNo) {
  unsetenv("SIGNET_ADAPTIVE_THREADS");
  threads::configure(0);
  const int all = threads::limit();
  EXPECT_EQ(threads::adaptive(), all > 1);
  // Whatever the machine's load, the count stays within [1, all cores].
  for (int i = 0; i < 3; ++i) {
    threads::adapt();
    EXPECT_GE(threads::current(), 1);
    EXPECT_LE(threads::current(), all);
  }
  setenv("SIGNET_ADAPTIVE_THREADS", "0", 1);
  threads::configure(0);
  EXPECT_FALSE(threads::adaptive());
  EXPECT_EQ(threads::current(), all);
}

}  // namespace
}  // namespace signet
