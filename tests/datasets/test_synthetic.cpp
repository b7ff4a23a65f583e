// Synthetic data sets: spec parsing, shapes and ranges, determinism from the seed, splits.
#include <gtest/gtest.h>

#include <set>

#include "datasets/dataloader.h"
#include "datasets/synthetic.h"

using namespace signet;

TEST(Synthetic, ParsesSpecs) {
  SyntheticSpec s = parse_synthetic_spec("synthetic");
  EXPECT_EQ(s.shape, (Shape{3, 32, 32}));
  EXPECT_EQ(s.vocab_size, 0);
  EXPECT_EQ(s.num_classes, 10);
  EXPECT_EQ(s.n_train, 1024);
  EXPECT_EQ(s.n_test, 256);
  EXPECT_EQ(s.seed, 0u);
  s = parse_synthetic_spec("synthetic:3x64x64:1000");
  EXPECT_EQ(s.shape, (Shape{3, 64, 64}));
  EXPECT_EQ(s.num_classes, 1000);
  s = parse_synthetic_spec("synthetic:1x28x28::600:100:7");
  EXPECT_EQ(s.shape, (Shape{1, 28, 28}));
  EXPECT_EQ(s.num_classes, 10);
  EXPECT_EQ(s.n_train, 600);
  EXPECT_EQ(s.n_test, 100);
  EXPECT_EQ(s.seed, 7u);
  s = parse_synthetic_spec("synthetic:500v20000:2");
  EXPECT_EQ(s.shape, (Shape{500}));
  EXPECT_EQ(s.vocab_size, 20000);
  EXPECT_EQ(s.num_classes, 2);
  s = parse_synthetic_spec("synthetic:80");
  EXPECT_EQ(s.shape, (Shape{80}));
  EXPECT_EQ(s.vocab_size, 5002);
  for (const char* bad : {"synthetic:3x32", "synthetic:0x3x3", "synthetic:abc", "synthetic:3x32x32:0",
                          "synthetic:3x32x32:10:1:1:1:1", "synthetic:5v", "synthetic:3x3x3v9",
                          "synthetic:-1", "synthetic::10:-5", "synthetics"}) {
    try {
      parse_synthetic_spec(bad);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("synthetic"), std::string::npos) << e.what();
    }
  }
}

TEST(Synthetic, ImagesAreSeededAndInRange) {
  const Dataset a = make_synthetic(40, {2, 5, 3}, 4, 11);
  const Dataset b = make_synthetic(40, {2, 5, 3}, 4, 11);
  const Dataset c = make_synthetic(40, {2, 5, 3}, 4, 12);
  const Dataset prefix = make_synthetic(10, {2, 5, 3}, 4, 11);
  ASSERT_EQ(a.images.shape(), (Shape{40, 2, 5, 3}));
  EXPECT_EQ(a.images.dtype(), DType::F32);
  EXPECT_EQ(a.images.to_vector(), b.images.to_vector());
  EXPECT_EQ(a.labels.to_vector_i64(), b.labels.to_vector_i64());
  EXPECT_NE(a.images.to_vector(), c.images.to_vector());
  // Sample i depends on (seed, i) only.
  const auto av = a.images.to_vector(), pv = prefix.images.to_vector();
  EXPECT_EQ(std::vector<float>(av.begin(), av.begin() + 300), pv);
  for (float v : av) ASSERT_TRUE(v >= 0.0f && v <= 1.0f);
  std::set<int64_t> seen;
  for (int64_t l : a.labels.to_vector_i64()) {
    ASSERT_TRUE(l >= 0 && l < 4);
    seen.insert(l);
  }
  EXPECT_EQ(seen.size(), 4u);
  double mean = 0;
  for (float v : av) mean += v;
  EXPECT_NEAR(mean / av.size(), 0.5, 0.05);
}

TEST(Synthetic, TokensAndLoadDataset) {
  const Dataset t = make_synthetic(30, {17}, 2, 5, 50);
  ASSERT_TRUE(t.is_tokens());
  EXPECT_EQ(t.images.shape(), (Shape{30, 17}));
  EXPECT_EQ(t.vocab_size, 50);
  std::set<int64_t> ids;
  for (int64_t v : t.images.to_vector_i64()) {
    ASSERT_TRUE(v >= 0 && v < 50);
    ids.insert(v);
  }
  EXPECT_GT(ids.size(), 40u);
  EXPECT_THROW(make_synthetic(3, {17}, 2, 5), Error) << "tokens need a vocabulary size";
  EXPECT_THROW(make_synthetic(3, {2, 2}, 2, 5), Error);
  EXPECT_THROW(make_synthetic(3, {2, 0, 2}, 2, 5), Error);

  const Dataset tr = load_dataset("synthetic:2x4x4:3:10:6:9", "train");
  const Dataset te = load_dataset("synthetic:2x4x4:3:10:6:9", "test");
  EXPECT_EQ(tr.name, "synthetic");
  EXPECT_EQ(tr.size(), 10);
  EXPECT_EQ(te.size(), 6);
  EXPECT_EQ(tr.num_classes, 3);
  const auto trv = tr.images.to_vector(), tev = te.images.to_vector();
  EXPECT_NE(std::vector<float>(trv.begin(), trv.begin() + 32),
            std::vector<float>(tev.begin(), tev.begin() + 32))
      << "the splits use different streams";
  EXPECT_EQ(load_dataset("synthetic:2x4x4:3:10:6:9", "train").images.to_vector(), tr.images.to_vector());
  EXPECT_NE(load_dataset("synthetic:2x4x4:3:10:6:8", "train").images.to_vector(), tr.images.to_vector());
  EXPECT_EQ(load_dataset("synthetic", "train").images.shape(), (Shape{1024, 3, 32, 32}));
  EXPECT_THROW(load_dataset("synthetic", "val"), Error);

  const Dataset tok = load_dataset("synthetic:12v30:2:9:4", "train");
  ASSERT_TRUE(tok.is_tokens());
  DataLoaderOptions o;
  o.batch_size = 4;
  DataLoader dl(tok, o);
  Batch b;
  int64_t n = 0;
  while (dl.next(b)) {
    EXPECT_EQ(b.x.dtype(), DType::I64);
    EXPECT_EQ(b.x.size(1), 12);
    n += b.x.size(0);
  }
  EXPECT_EQ(n, 9);
}
