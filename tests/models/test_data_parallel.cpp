// DataParallel's exchange, against a stand-in for the other ranks: a communicator of size 2 whose
// allreduce adds a fixed "peer" value to every element (the other rank's contribution), so every
// number after the exchange is known in advance. The real two-process equivalence runs under
// mpirun in tests/cli/test_cli_distributed.cpp.
#include <gtest/gtest.h>

#include "engine/autograd_ready.h"
#include "engine/dist/communicator.h"
#include "engine/ops.h"
#include "models/data_parallel.h"

using namespace signet;

namespace {

class PeerComm final : public dist::Communicator {
 public:
  explicit PeerComm(float peer) : peer_(peer) {}
  int rank() const override { return 0; }
  int size() const override { return 2; }
  std::string backend() const override { return "test"; }
  void allreduce_sum(float* d, int64_t n) override {
    ++calls;
    sizes.push_back(n);
    for (int64_t i = 0; i < n; ++i) d[i] += peer_;
  }
  void allreduce_sum(double* d, int64_t n) override {
    for (int64_t i = 0; i < n; ++i) d[i] += peer_;
  }
  void broadcast(void*, int64_t bytes, int root) override {
    EXPECT_EQ(root, 0);
    broadcast_bytes += bytes;
  }
  std::vector<std::string> allgather(const std::string& t) override { return {t, t}; }
  void barrier() override {}
  int calls = 0;
  int64_t broadcast_bytes = 0;
  std::vector<int64_t> sizes;

 private:
  float peer_;
};

Tensor param(const Shape& s, float v) {
  Tensor t = Tensor::full(s, v);
  t.set_requires_grad(true);
  return t;
}

}  // namespace

TEST(DataParallel, GradientIsTheSampleWeightedSumOverRanks) {
  PeerComm comm(0.25f);
  Tensor a = param({2, 3}, 1.0f), b = param({4}, 2.0f), unused = param({5}, 0.0f);
  a.set_grad(Tensor::full({2, 3}, 8.0f));
  b.set_grad(Tensor::full({4}, -4.0f));
  DataParallel dp(comm, {{"a", a}, {"b", b}, {"unused", unused}}, {});
  ASSERT_TRUE(dp.active());
  // This rank holds 32 of the step's 128 samples: weight 1/4; the peer adds 0.25 everywhere.
  const double loss = dp.reduce_gradients(32, 128, 2.0);
  EXPECT_FLOAT_EQ(static_cast<float>(loss), 0.25f * 2.0f + 0.25f);
  for (int64_t i = 0; i < 6; ++i) EXPECT_FLOAT_EQ(a.grad().f32()[i], 0.25f * 8.0f + 0.25f);
  for (int64_t i = 0; i < 4; ++i) EXPECT_FLOAT_EQ(b.grad().f32()[i], 0.25f * -4.0f + 0.25f);
  // The peer had a gradient for the parameter this rank did not touch: it gets the peer's.
  ASSERT_TRUE(unused.grad().defined());
  for (int64_t i = 0; i < 5; ++i) EXPECT_FLOAT_EQ(unused.grad().f32()[i], 0.25f);
}

TEST(DataParallel, AParameterNoRankTouchedKeepsNoGradient) {
  PeerComm comm(0.0f);
  Tensor a = param({3}, 1.0f), unused = param({2}, 0.0f);
  a.set_grad(Tensor::full({3}, 1.0f));
  DataParallel dp(comm, {{"a", a}, {"unused", unused}}, {});
  dp.reduce_gradients(64, 128, 1.0);
  EXPECT_FALSE(unused.grad().defined());
  EXPECT_FLOAT_EQ(a.grad().f32()[0], 0.5f);
}

TEST(DataParallel, BucketsHoldSeveralParametersPerCall) {
  PeerComm comm(0.0f);
  NamedTensorList ps;
  for (int i = 0; i < 6; ++i) {
    Tensor p = param({10}, 1.0f);
    p.set_grad(Tensor::full({10}, 1.0f));
    ps.emplace_back("p" + std::to_string(i), p);
  }
  DataParallel big(comm, ps, {});
  big.reduce_gradients(1, 2, 0.0);
  EXPECT_EQ(big.buckets(), 1);
  EXPECT_EQ(comm.calls, 1);
  ASSERT_EQ(comm.sizes.size(), 1u);
  EXPECT_EQ(comm.sizes[0], 1 + 6 + 60);  // loss, one flag per parameter, the gradients
  DataParallel small(comm, ps, {}, 25);   // two parameters of 10 per bucket
  EXPECT_EQ(small.buckets(), 3);
  small.reduce_gradients(1, 2, 0.0);
  EXPECT_EQ(comm.calls, 1 + 3);
  // The header rides with the last bucket, the one backward finishes last.
  EXPECT_EQ(comm.sizes, (std::vector<int64_t>{67, 20, 20, 1 + 6 + 20}));
}

// A stand-in whose sums start without blocking and complete only in wait(): DataParallel must
// not read a bucket before waiting for it, and must start every bucket in order.
class DeferredComm final : public dist::Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 2; }
  std::string backend() const override { return "test"; }
  void allreduce_sum(float* d, int64_t n) override { add_peer(d, n); }
  void allreduce_sum(double*, int64_t) override {}
  int64_t allreduce_sum_start(float* d, int64_t n) override {
    events.push_back("start " + std::to_string(n));
    pending.push_back({d, n});
    return static_cast<int64_t>(pending.size()) - 1;
  }
  void wait(int64_t h) override {
    events.push_back("wait " + std::to_string(h));
    add_peer(pending.at(static_cast<size_t>(h)).first, pending.at(static_cast<size_t>(h)).second);
  }
  void broadcast(void*, int64_t, int) override {}
  std::vector<std::string> allgather(const std::string& t) override { return {t, t}; }
  void barrier() override {}
  std::vector<std::string> events;
  std::vector<std::pair<float*, int64_t>> pending;

 private:
  static void add_peer(float* d, int64_t n) {
    for (int64_t i = 0; i < n; ++i) d[i] += 1.0f;
  }
};

// Three layers a -> b -> c of 4 weights each, one bucket each: c's is final first.
Tensor chain_loss(const Tensor& a, const Tensor& b, const Tensor& c) {
  const Tensor x = Tensor::from_vector({1, -2, 3, 0.5f}, {4});
  return sum(mul(c, tanh(mul(b, tanh(mul(a, x))))));
}

TEST(DataParallel, BucketsStartDuringBackwardInOrderAndMatchTheExchangeAfterIt) {
  auto make = [] {
    NamedTensorList ps;
    for (const char* name : {"a", "b", "c"}) ps.emplace_back(name, param({4}, 0.5f));
    return ps;
  };
  NamedTensorList early = make(), after = make();
  DeferredComm comm;
  DataParallel dp(comm, early, {}, 4);
  ASSERT_EQ(dp.buckets(), 3);
  const Tensor loss = chain_loss(early[0].second, early[1].second, early[2].second);
  dp.begin_step(32, 64, 1.5);
  run_backward_reporting(loss, [&](const Tensor& leaf) { dp.gradient_final(leaf); });
  // All three sums started while backward ran, last layer first, the header (loss and 3 flags)
  // with the last; none has completed yet.
  EXPECT_EQ(comm.events, (std::vector<std::string>{"start 4", "start 4", "start 8"}));
  EXPECT_EQ(dp.started_early(), 3);
  const double global_loss = dp.reduce_gradients(32, 64, 1.5);
  EXPECT_EQ(comm.events.size(), 6u);
  EXPECT_FLOAT_EQ(static_cast<float>(global_loss), 0.5f * 1.5f + 1.0f);

  PeerComm peer(1.0f);
  DataParallel plain(peer, after, {}, 4);
  chain_loss(after[0].second, after[1].second, after[2].second).backward();
  plain.reduce_gradients(32, 64, 1.5);
  EXPECT_EQ(plain.started_early(), 0);
  for (size_t i = 0; i < 3; ++i)
    EXPECT_EQ(early[i].second.grad().to_vector(), after[i].second.grad().to_vector()) << early[i].first;
}

TEST(DataParallel, ABucketWithAParameterBackwardNeverReachedStartsAfterIt) {
  NamedTensorList ps;
  for (const char* name : {"a", "b", "c"}) ps.emplace_back(name, param({4}, 0.5f));
  Tensor idle = param({4}, 0.0f);  // registered last: the first bucket, which then waits for it
  ps.emplace_back("idle", idle);
  DeferredComm comm;
  DataParallel dp(comm, ps, {}, 4);
  dp.begin_step(64, 64, 1.0);
  run_backward_reporting(chain_loss(ps[0].second, ps[1].second, ps[2].second),
                         [&](const Tensor& leaf) { dp.gradient_final(leaf); });
  EXPECT_EQ(dp.started_early(), 0);  // buckets start in order, and the first is never final
  EXPECT_TRUE(comm.events.empty());
  dp.reduce_gradients(64, 64, 1.0);
  EXPECT_EQ(comm.events.size(), 8u);  // 4 starts, then 4 waits
  ASSERT_TRUE(idle.grad().defined());  // the peer (the stand-in adds 1 everywhere) has one
  EXPECT_FLOAT_EQ(idle.grad().f32()[0], 1.0f);
}

TEST(DataParallel, StateIsAveragedAndParametersBroadcast) {
  PeerComm comm(3.0f);
  Tensor w = param({4}, 1.0f);
  Tensor running = Tensor::full({3}, 1.0f);
  DataParallel dp(comm, {{"w", w}}, {running});
  dp.average_state();
  for (int64_t i = 0; i < 3; ++i) EXPECT_FLOAT_EQ(running.f32()[i], (1.0f + 3.0f) / 2);
  dp.broadcast_from_first();
  EXPECT_EQ(comm.broadcast_bytes, static_cast<int64_t>((4 + 3) * sizeof(float)));
}

TEST(DataParallel, OneProcessExchangesNothing) {
  dist::Communicator& single = dist::world();
  ASSERT_EQ(single.size(), 1);
  Tensor a = param({2}, 1.0f);
  a.set_grad(Tensor::full({2}, 3.0f));
  DataParallel dp(single, {{"a", a}}, {});
  EXPECT_FALSE(dp.active());
  EXPECT_DOUBLE_EQ(dp.reduce_gradients(10, 10, 1.5), 1.5);
  EXPECT_FLOAT_EQ(a.grad().f32()[1], 3.0f);
  EXPECT_EQ(dp.calls(), 0);
}

TEST(DataParallel, RejectsImpossibleShares) {
  PeerComm comm(0.0f);
  Tensor a = param({2}, 1.0f);
  DataParallel dp(comm, {{"a", a}}, {});
  EXPECT_THROW(dp.reduce_gradients(5, 4, 0.0), Error);
  EXPECT_THROW(dp.reduce_gradients(1, 0, 0.0), Error);
}

TEST(DataParallel, SameFileCheckNamesTheRankThatDiffers) {
  class Differ final : public dist::Communicator {
   public:
    int rank() const override { return 0; }
    int size() const override { return 2; }
    std::string backend() const override { return "test"; }
    void allreduce_sum(float*, int64_t) override {}
    void allreduce_sum(double*, int64_t) override {}
    void broadcast(void*, int64_t, int) override {}
    std::vector<std::string> allgather(const std::string& t) override { return {t, "0000"}; }
    void barrier() override {}
  } comm;
  const std::string path = ::testing::TempDir() + "signet_dp_same_file.bin";
  FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  std::fputs("checkpoint bytes", f);
  std::fclose(f);
  try {
    check_same_file_on_all_ranks(comm, path, "--resume");
    FAIL() << "a differing rank was not reported";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rank 1"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("--resume"), std::string::npos) << e.what();
  }
  std::remove(path.c_str());
}
