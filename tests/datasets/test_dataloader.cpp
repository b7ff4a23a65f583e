// DataLoader: coverage of every index, reproducible order from (seed, epoch), drop_last,
// normalisation, prefetch on/off equivalence, worker errors, destruction mid-epoch.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "datasets/dataloader.h"

using namespace signet;

namespace {

// n samples of [c, 2, 2]; pixel (i, ch, p) = (i * 8 + ch * 4 + p) / 1024 (exact in float), so
// the sample index is recoverable from x[b, 0, 0, 0]. Label i % classes.
Dataset synthetic(int64_t n, int64_t c = 2, int64_t classes = 3) {
  Dataset ds;
  ds.name = "synthetic";
  ds.num_classes = classes;
  ds.images = Tensor::empty({n, c, 2, 2});
  ds.labels = Tensor::empty({n}, DType::I64);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t k = 0; k < c * 4; ++k) ds.images.f32()[i * c * 4 + k] = float(i * 8 + k) / 1024.0f;
    ds.labels.i64()[i] = i % classes;
  }
  return ds;
}

int64_t index_of(const Batch& b, int64_t row) {
  const int64_t per = b.x.numel() / b.x.size(0);
  return std::lround(b.x.f32()[row * per] * 1024.0f / 8.0f);
}

// The sample order of one epoch, batch sizes alongside.
std::vector<int64_t> epoch_order(DataLoader& dl, int64_t epoch, std::vector<int64_t>* sizes = nullptr) {
  dl.start_epoch(epoch);
  std::vector<int64_t> order;
  Batch b;
  while (dl.next(b)) {
    if (sizes) sizes->push_back(b.y.size(0));
    for (int64_t r = 0; r < b.y.size(0); ++r) {
      const int64_t idx = index_of(b, r);
      EXPECT_EQ(b.y.i64()[r], idx % 3);
      order.push_back(idx);
    }
  }
  return order;
}

DataLoaderOptions opts(int64_t bs, bool prefetch, uint64_t seed = 7) {
  DataLoaderOptions o;
  o.batch_size = bs;
  o.prefetch = prefetch;
  o.seed = seed;
  return o;
}

}  // namespace

TEST(DataLoader, EveryIndexOncePerEpoch) {
  const Dataset ds = synthetic(10);
  for (bool pf : {false, true}) {
    DataLoader dl(ds, opts(3, pf));
    EXPECT_EQ(dl.num_batches(), 4);
    for (int64_t e = 0; e < 3; ++e) {
      std::vector<int64_t> sizes;
      std::vector<int64_t> order = epoch_order(dl, e, &sizes);
      EXPECT_EQ(sizes, (std::vector<int64_t>{3, 3, 3, 1}));
      EXPECT_EQ(order, dl.order());
      std::sort(order.begin(), order.end());
      for (int64_t i = 0; i < 10; ++i) EXPECT_EQ(order[i], i);
    }
    Batch b;
    EXPECT_FALSE(dl.next(b)) << "end of epoch stays ended";
  }
}

TEST(DataLoader, OrderIsAFunctionOfSeedAndEpoch) {
  const Dataset ds = synthetic(50);
  DataLoader a(ds, opts(8, true)), b(ds, opts(8, false)), other_seed(ds, opts(8, true, 8));
  const auto a0 = epoch_order(a, 0), a1 = epoch_order(a, 1), a2 = epoch_order(a, 2);
  EXPECT_NE(a0, a1);
  EXPECT_NE(a1, a2);
  // A loader "resumed" at epoch 2 without running 0 and 1 sees the same order.
  EXPECT_EQ(epoch_order(b, 2), a2);
  EXPECT_EQ(epoch_order(b, 0), a0);
  EXPECT_EQ(epoch_order(a, 1), a1) << "repeating an epoch repeats its order";
  EXPECT_NE(epoch_order(other_seed, 0), a0);
}

TEST(DataLoader, NoShuffleAndImplicitEpochZero) {
  const Dataset ds = synthetic(7);
  DataLoaderOptions o = opts(4, true);
  o.shuffle = false;
  DataLoader dl(ds, o);
  Batch b;
  ASSERT_TRUE(dl.next(b));  // no start_epoch: epoch 0
  EXPECT_EQ(dl.epoch(), 0);
  EXPECT_EQ(index_of(b, 0), 0);
  EXPECT_EQ(epoch_order(dl, 5), (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6}));
}

TEST(DataLoader, DropLast) {
  const Dataset ds = synthetic(10);
  for (bool pf : {false, true}) {
    DataLoaderOptions o = opts(3, pf);
    o.drop_last = true;
    DataLoader dl(ds, o);
    EXPECT_EQ(dl.num_batches(), 3);
    std::vector<int64_t> sizes;
    const auto order = epoch_order(dl, 0, &sizes);
    EXPECT_EQ(sizes, (std::vector<int64_t>{3, 3, 3}));
    EXPECT_EQ(order.size(), 9u);
    EXPECT_EQ(std::vector<int64_t>(dl.order().begin(), dl.order().begin() + 9), order);
    o.batch_size = 11;
    EXPECT_EQ(DataLoader(ds, o).num_batches(), 0);
  }
}

TEST(DataLoader, Normalisation) {
  const Dataset ds = synthetic(5);
  DataLoaderOptions o = opts(5, true);
  o.shuffle = false;
  o.mean = {0.25f, -1.0f};
  o.stddev = {0.5f, 2.0f};
  DataLoader dl(ds, o);
  Batch b;
  ASSERT_TRUE(dl.next(b));
  ASSERT_EQ(b.x.shape(), (Shape{5, 2, 2, 2}));
  for (int64_t i = 0; i < 5; ++i)
    for (int64_t c = 0; c < 2; ++c)
      for (int64_t p = 0; p < 4; ++p) {
        const float pixel = ds.images.f32()[(i * 2 + c) * 4 + p];
        EXPECT_FLOAT_EQ(b.x.f32()[(i * 2 + c) * 4 + p], (pixel - o.mean[c]) / o.stddev[c]);
      }
  EXPECT_FALSE(dl.next(b));

  DataLoaderOptions bad = o;
  bad.mean = {0.5f};
  EXPECT_THROW(DataLoader(ds, bad), Error);
  bad = o;
  bad.stddev = {1.0f, 0.0f};
  EXPECT_THROW(DataLoader(ds, bad), Error);
  bad = o;
  bad.batch_size = 0;
  EXPECT_THROW(DataLoader(ds, bad), Error);
}

TEST(DataLoader, PrefetchOnOffIdentical) {
  const Dataset ds = synthetic(37, 3);
  DataLoaderOptions o = opts(8, true, 99);
  o.mean = {0.1f, 0.2f, 0.3f};
  o.stddev = {0.7f, 0.9f, 1.1f};
  DataLoaderOptions o2 = o;
  o2.prefetch = false;
  DataLoader a(ds, o), b(ds, o2);
  for (int64_t e = 0; e < 3; ++e) {
    a.start_epoch(e);
    b.start_epoch(e);
    Batch x, y;
    int64_t n = 0;
    for (;;) {
      const bool ha = a.next(x), hb = b.next(y);
      ASSERT_EQ(ha, hb);
      if (!ha) break;
      ++n;
      ASSERT_EQ(x.x.shape(), y.x.shape());
      EXPECT_EQ(0, std::memcmp(x.x.f32(), y.x.f32(), x.x.numel() * sizeof(float)));
      EXPECT_EQ(x.y.to_vector_i64(), y.y.to_vector_i64());
    }
    EXPECT_EQ(n, 5);
  }
}

TEST(DataLoader, BatchesAreIndependentOfLaterBatches) {
  const Dataset ds = synthetic(20);
  DataLoader dl(ds, opts(4, true));
  dl.start_epoch(0);
  std::vector<Batch> kept;
  std::vector<std::vector<float>> copies;
  Batch b;
  while (dl.next(b)) {
    kept.push_back(b);
    copies.push_back(b.x.to_vector());
  }
  for (size_t i = 0; i < kept.size(); ++i) EXPECT_EQ(kept[i].x.to_vector(), copies[i]);
}

TEST(DataLoader, DatasetMayGoAway) {
  auto ds = std::make_unique<Dataset>(synthetic(9));
  DataLoader dl(*ds, opts(4, true));
  ds.reset();
  auto order = epoch_order(dl, 0);
  std::sort(order.begin(), order.end());
  EXPECT_EQ(order.size(), 9u);
  EXPECT_EQ(order.back(), 8);
}

TEST(DataLoader, DestroyAndRestartMidEpoch) {
  const Dataset ds = synthetic(2000);
  for (int rep = 0; rep < 50; ++rep) {
    DataLoader dl(ds, opts(16, true));
    if (rep % 3 == 0) continue;  // destroyed before any epoch
    dl.start_epoch(rep);
    if (rep % 3 == 1) continue;  // destroyed with the first batch in flight
    Batch b;
    for (int k = 0; k < rep % 5; ++k) ASSERT_TRUE(dl.next(b));
  }
  // Abandoning an epoch midway and starting another gives that epoch's full order.
  DataLoader a(ds, opts(64, true)), ref(ds, opts(64, false));
  a.start_epoch(0);
  Batch b;
  a.next(b);
  a.next(b);
  EXPECT_EQ(epoch_order(a, 1), epoch_order(ref, 1));
}

TEST(DataLoader, WorkerErrorIsRethrown) {
  Dataset ds = synthetic(10);
  ds.labels.i64()[5] = 42;  // outside [0, 3)
  for (bool pf : {false, true}) {
    DataLoaderOptions o = opts(2, pf);
    o.shuffle = false;
    DataLoader dl(ds, o);
    dl.start_epoch(0);
    Batch b;
    ASSERT_TRUE(dl.next(b));  // samples 0, 1
    ASSERT_TRUE(dl.next(b));  // samples 2, 3
    try {
      dl.next(b);  // samples 4, 5
      ADD_FAILURE() << "no error (prefetch " << pf << ")";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("label 42"), std::string::npos) << e.what();
    }
    if (pf) {
      EXPECT_THROW(dl.next(b), Error) << "the error stays until start_epoch";
    }
    dl.start_epoch(1);  // recovers: the first batches are fine again
    EXPECT_TRUE(dl.next(b));
  }
}

TEST(DataLoader, EmptyDatasetAndBadInputs) {
  const Dataset ds = synthetic(0);
  DataLoader dl(ds, opts(4, true));
  EXPECT_EQ(dl.num_batches(), 0);
  Batch b;
  EXPECT_FALSE(dl.next(b));
  Dataset bad = synthetic(4);
  bad.labels = Tensor::empty({3}, DType::I64);
  EXPECT_THROW(DataLoader(bad, opts(2, true)), Error);
  EXPECT_THROW(DataLoader(Dataset{}, opts(2, true)), Error);
}

TEST(DataLoader, ChannelMeanStd) {
  // Channel 0 holds 0..7 over 2 images, channel 1 is constant 3.
  Tensor t = Tensor::empty({2, 2, 2, 2});
  for (int i = 0; i < 2; ++i)
    for (int p = 0; p < 4; ++p) {
      t.f32()[(i * 2 + 0) * 4 + p] = float(i * 4 + p);
      t.f32()[(i * 2 + 1) * 4 + p] = 3.0f;
    }
  const auto [mean, sd] = channel_mean_std(t);
  ASSERT_EQ(mean.size(), 2u);
  EXPECT_FLOAT_EQ(mean[0], 3.5f);
  EXPECT_FLOAT_EQ(sd[0], std::sqrt(5.25f));  // population variance of 0..7
  EXPECT_FLOAT_EQ(mean[1], 3.0f);
  EXPECT_NEAR(sd[1], 0.0f, 1e-6);
  EXPECT_THROW(channel_mean_std(Tensor::empty({4})), Error);
  EXPECT_THROW(channel_mean_std(Tensor::empty({0, 1, 2, 2})), Error);
}

namespace {

// n token rows of length len: row i = (i * 10 + p) % vocab; label i % 2.
Dataset token_set(int64_t n, int64_t len, int64_t vocab) {
  Dataset ds;
  ds.name = "tokens";
  ds.num_classes = 2;
  ds.vocab_size = vocab;
  ds.images = Tensor::empty({n, len}, DType::I64);
  ds.labels = Tensor::empty({n}, DType::I64);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t p = 0; p < len; ++p) ds.images.i64()[i * len + p] = (i * 10 + p) % vocab;
    ds.labels.i64()[i] = i % 2;
  }
  return ds;
}

}  // namespace

TEST(DataLoader, TokenBatchesAreGatheredInt64Rows) {
  const Dataset ds = token_set(13, 7, 1000);
  ASSERT_TRUE(ds.is_tokens());
  DataLoader a(ds, opts(4, true)), b(ds, opts(4, false));
  for (int64_t e = 0; e < 2; ++e) {
    a.start_epoch(e);
    b.start_epoch(e);
    Batch x, y;
    int64_t k = 0;
    while (a.next(x)) {
      ASSERT_TRUE(b.next(y));
      ASSERT_EQ(x.x.dtype(), DType::I64);
      ASSERT_EQ(x.x.shape(), (Shape{k < 3 ? 4 : 1, 7}));
      EXPECT_EQ(x.x.to_vector_i64(), y.x.to_vector_i64());
      for (int64_t r = 0; r < x.x.size(0); ++r) {
        const int64_t idx = a.order()[size_t(k * 4 + r)];
        EXPECT_EQ(x.y.i64()[r], idx % 2);
        for (int64_t p = 0; p < 7; ++p) EXPECT_EQ(x.x.i64()[r * 7 + p], (idx * 10 + p) % 1000);
      }
      ++k;
    }
    EXPECT_FALSE(b.next(y));
    EXPECT_EQ(k, 4);
  }
}

TEST(DataLoader, TokenSetsRefuseNormalisationAndCheckIds) {
  Dataset ds = token_set(6, 3, 50);
  DataLoaderOptions o = opts(2, true);
  o.mean = {0.5f};
  o.stddev = {1.0f};
  EXPECT_THROW(DataLoader(ds, o), Error);
  ds.images.i64()[4 * 3 + 1] = 50;  // sample 4, position 1: outside [0, 50)
  ds.images.i64()[5 * 3 + 2] = -3;  // sample 5: negative
  for (bool pf : {false, true}) {
    DataLoaderOptions p = opts(2, pf);
    p.shuffle = false;
    DataLoader dl(ds, p);
    Batch b;
    ASSERT_TRUE(dl.next(b));
    ASSERT_TRUE(dl.next(b));
    try {
      dl.next(b);
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("token id 50 at position 1"), std::string::npos) << e.what();
    }
  }
  // A wrongly shaped int64 tensor is neither images nor tokens.
  Dataset bad = token_set(2, 3, 5);
  bad.images = Tensor::zeros({2, 3, 1}, DType::I64);
  EXPECT_THROW(DataLoader(bad, opts(2, true)), Error);
}
