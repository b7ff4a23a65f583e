// DataLoader shards (data parallelism): P shards of one seed together give exactly the batches of
// one unsharded loader, each shard a contiguous slice whose size differs from the others' by at
// most one, possibly empty, with the global batch size on every batch.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "datasets/dataloader.h"

using namespace signet;

namespace {

Dataset numbered(int64_t n) {
  Dataset ds;
  ds.name = "numbered";
  ds.num_classes = 5;
  ds.images = Tensor::empty({n, 1, 2, 2});
  ds.labels = Tensor::empty({n}, DType::I64);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t k = 0; k < 4; ++k) ds.images.f32()[i * 4 + k] = static_cast<float>(i);
    ds.labels.i64()[i] = i % 5;
  }
  return ds;
}

std::vector<std::vector<int64_t>> batches(const Dataset& ds, int64_t batch, int shard, int shards, bool augment,
                                          std::vector<int64_t>* global = nullptr) {
  DataLoaderOptions o;
  o.batch_size = batch;
  o.seed = 7;
  o.shard = shard;
  o.shards = shards;
  o.augment = augment;
  o.crop_pad = 0;  // flips only: the sample number survives in the pixel values
  DataLoader dl(ds, o);
  dl.start_epoch(3);
  std::vector<std::vector<int64_t>> out;
  Batch b;
  while (dl.next(b)) {
    std::vector<int64_t> ids;
    for (int64_t i = 0; i < b.y.numel(); ++i) ids.push_back(std::lround(b.x.f32()[i * 4]));
    out.push_back(ids);
    if (global) global->push_back(b.global_size);
  }
  return out;
}

}  // namespace

TEST(DataLoaderShard, ShardsTogetherAreTheUnshardedBatches) {
  for (int64_t n : {1, 7, 64, 100}) {
    for (int64_t batch : {1, 3, 16, 128}) {
      for (int shards : {1, 2, 3, 4}) {
        const Dataset ds = numbered(n);
        std::vector<int64_t> whole_global;
        const auto whole = batches(ds, batch, 0, 1, false, &whole_global);
        std::vector<std::vector<std::vector<int64_t>>> parts;
        for (int r = 0; r < shards; ++r) {
          std::vector<int64_t> g;
          parts.push_back(batches(ds, batch, r, shards, false, &g));
          ASSERT_EQ(parts.back().size(), whole.size()) << "n " << n << " batch " << batch << " shard " << r;
          EXPECT_EQ(g, whole_global);
        }
        for (size_t k = 0; k < whole.size(); ++k) {
          std::vector<int64_t> joined;
          size_t lo = whole[k].size(), hi = 0;
          for (int r = 0; r < shards; ++r) {
            joined.insert(joined.end(), parts[r][k].begin(), parts[r][k].end());
            lo = std::min(lo, parts[r][k].size());
            hi = std::max(hi, parts[r][k].size());
          }
          EXPECT_EQ(joined, whole[k]) << "n " << n << " batch " << batch << " shards " << shards << " step " << k;
          EXPECT_LE(hi - lo, 1u);
          EXPECT_EQ(whole_global[k], static_cast<int64_t>(whole[k].size()));
        }
      }
    }
  }
}

TEST(DataLoaderShard, ShortLastBatchLeavesSomeShardsEmpty) {
  const Dataset ds = numbered(9);  // batches of 4: 4, 4, 1; the last one's sample goes to shard 2
  const auto first = batches(ds, 4, 0, 3, false);
  ASSERT_EQ(first.size(), 3u);
  EXPECT_TRUE(first[2].empty());
  EXPECT_EQ(first[0].size(), 1u);  // 4 over 3 shards: 1, 1, 2
  EXPECT_EQ(batches(ds, 4, 2, 3, false)[2].size(), 1u);
}

TEST(DataLoaderShard, AugmentationDependsOnTheSampleNotTheShard) {
  const Dataset ds = numbered(50);
  DataLoaderOptions o;
  o.batch_size = 10;
  o.seed = 3;
  o.augment = true;
  o.crop_pad = 1;
  DataLoader whole(ds, o);
  o.shards = 2;
  o.shard = 1;
  DataLoader half(ds, o);
  whole.start_epoch(0);
  half.start_epoch(0);
  Batch a, b;
  while (whole.next(a)) {
    ASSERT_TRUE(half.next(b));
    const int64_t first = a.y.numel() / 2, row = 4;
    for (int64_t i = 0; i < b.y.numel() * row; ++i) EXPECT_EQ(b.x.f32()[i], a.x.f32()[first * row + i]);
  }
}

TEST(DataLoaderShard, RejectsAShardThatDoesNotExist) {
  const Dataset ds = numbered(4);
  DataLoaderOptions o;
  o.shard = 2;
  o.shards = 2;
  EXPECT_THROW(DataLoader(ds, o), Error);
  o.shard = 0;
  o.shards = 0;
  EXPECT_THROW(DataLoader(ds, o), Error);
}
