// Augmentation: crop/flip on a hand-made image, the draw's determinism and distribution, the
// DataLoader applying it reproducibly (prefetch on/off), and pad_images.
#include <gtest/gtest.h>

#include <cstring>
#include <set>

#include "datasets/augment.h"
#include "datasets/dataloader.h"

using namespace signet;

namespace {

// Reference: crop of the zero-padded image, then mirror, written the slow obvious way.
std::vector<float> reference(const std::vector<float>& in, int64_t c, int64_t h, int64_t w,
                             int64_t pad, const AugmentParams& p) {
  const int64_t ph = h + 2 * pad, pw = w + 2 * pad;
  std::vector<float> padded(size_t(c * ph * pw), 0.0f), out(size_t(c * h * w));
  for (int64_t ch = 0; ch < c; ++ch)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) padded[size_t((ch * ph + y + pad) * pw + x + pad)] = in[size_t((ch * h + y) * w + x)];
  const int64_t oy = p.dy + pad, ox = p.dx + pad;  // crop origin in the padded image
  for (int64_t ch = 0; ch < c; ++ch)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) {
        const int64_t cx = p.flip ? w - 1 - x : x;  // flip after the crop
        out[size_t((ch * h + y) * w + x)] = padded[size_t((ch * ph + oy + y) * pw + ox + cx)];
      }
  return out;
}

std::vector<float> apply(const std::vector<float>& in, int64_t c, int64_t h, int64_t w, AugmentParams p) {
  std::vector<float> out(in.size(), -1.0f);
  augment_image(in.data(), out.data(), c, h, w, p);
  return out;
}

}  // namespace

TEST(Augment, CropAndFlipOnHandMadeImage) {
  // 1 x 3 x 4:  1  2  3  4 /  5  6  7  8 /  9 10 11 12
  std::vector<float> img(12);
  for (int i = 0; i < 12; ++i) img[i] = float(i + 1);
  EXPECT_EQ(apply(img, 1, 3, 4, {0, 0, false}), img);
  EXPECT_EQ(apply(img, 1, 3, 4, {1, 0, false}),
            (std::vector<float>{5, 6, 7, 8, 9, 10, 11, 12, 0, 0, 0, 0}));  // content moves up
  EXPECT_EQ(apply(img, 1, 3, 4, {0, -1, false}),
            (std::vector<float>{0, 1, 2, 3, 0, 5, 6, 7, 0, 9, 10, 11}));  // content moves right
  EXPECT_EQ(apply(img, 1, 3, 4, {0, 0, true}),
            (std::vector<float>{4, 3, 2, 1, 8, 7, 6, 5, 12, 11, 10, 9}));
  EXPECT_EQ(apply(img, 1, 3, 4, {-1, 1, true}),
            (std::vector<float>{0, 0, 0, 0, 0, 4, 3, 2, 0, 8, 7, 6}));
  EXPECT_EQ(apply(img, 1, 3, 4, {0, 4, false}), std::vector<float>(12, 0.0f));
  // Every offset and flip, 2 channels, against the pad-then-crop-then-flip reference.
  std::vector<float> two(2 * 5 * 6);
  for (size_t i = 0; i < two.size(); ++i) two[i] = float(i) * 0.5f + 1.0f;
  for (int64_t dy = -3; dy <= 3; ++dy)
    for (int64_t dx = -3; dx <= 3; ++dx)
      for (bool f : {false, true})
        EXPECT_EQ(apply(two, 2, 5, 6, {dy, dx, f}), reference(two, 2, 5, 6, 3, {dy, dx, f}))
            << dy << " " << dx << " " << f;
}

TEST(Augment, ParamsAreAFunctionOfSeedEpochSample) {
  std::set<int64_t> dys, dxs;
  int flips = 0, same_as_next_epoch = 0;
  for (int64_t s = 0; s < 2000; ++s) {
    const AugmentParams p = augment_params(5, 3, s, 4);
    const AugmentParams q = augment_params(5, 3, s, 4);
    ASSERT_EQ(p.dy, q.dy);
    ASSERT_EQ(p.dx, q.dx);
    ASSERT_EQ(p.flip, q.flip);
    ASSERT_TRUE(p.dy >= -4 && p.dy <= 4 && p.dx >= -4 && p.dx <= 4);
    dys.insert(p.dy);
    dxs.insert(p.dx);
    flips += p.flip;
    const AugmentParams e = augment_params(5, 4, s, 4);
    same_as_next_epoch += (e.dy == p.dy && e.dx == p.dx && e.flip == p.flip);
    EXPECT_FALSE(augment_params(5, 3, s, 4, false).flip);
    const AugmentParams z = augment_params(5, 3, s, 0);
    EXPECT_EQ(z.dy, 0);
    EXPECT_EQ(z.dx, 0);
  }
  EXPECT_EQ(dys.size(), 9u);
  EXPECT_EQ(dxs.size(), 9u);
  EXPECT_NEAR(flips / 2000.0, 0.5, 0.05);
  EXPECT_LT(same_as_next_epoch, 40) << "epochs draw independently (chance: 2000/162)";
  EXPECT_THROW(augment_params(0, 0, 0, -1), Error);
}

TEST(Augment, DataLoaderAppliesItReproducibly) {
  Dataset ds;
  ds.name = "toy";
  ds.num_classes = 2;
  const int64_t n = 23, c = 2, h = 6, w = 5;
  ds.images = Tensor::empty({n, c, h, w});
  ds.labels = Tensor::empty({n}, DType::I64);
  for (int64_t i = 0; i < n * c * h * w; ++i) ds.images.f32()[i] = float(i % 97) / 97.0f;
  for (int64_t i = 0; i < n; ++i) ds.labels.i64()[i] = i % 2;
  DataLoaderOptions o;
  o.batch_size = 5;
  o.seed = 42;
  o.augment = true;
  o.crop_pad = 2;
  o.mean = {0.3f, 0.6f};
  o.stddev = {0.5f, 0.25f};
  DataLoaderOptions o2 = o;
  o2.prefetch = false;
  DataLoader a(ds, o), b(ds, o2);
  for (int64_t epoch : {0, 1, 0}) {
    a.start_epoch(epoch);
    b.start_epoch(epoch);
    Batch x, y;
    int64_t k = 0;
    while (a.next(x)) {
      ASSERT_TRUE(b.next(y));
      ASSERT_EQ(0, std::memcmp(x.x.f32(), y.x.f32(), x.x.numel() * sizeof(float)));
      // Each row is exactly augment (pixel space) then normalise.
      for (int64_t r = 0; r < x.y.size(0); ++r) {
        const int64_t idx = a.order()[size_t(k * 5 + r)];
        std::vector<float> px(ds.images.f32() + idx * c * h * w, ds.images.f32() + (idx + 1) * c * h * w);
        std::vector<float> want = apply(px, c, h, w, augment_params(42, epoch, idx, 2));
        for (int64_t i = 0; i < c * h * w; ++i) {
          const int64_t ch = i / (h * w);
          ASSERT_EQ(x.x.f32()[r * c * h * w + i], (want[size_t(i)] - o.mean[ch]) / o.stddev[ch]);
        }
      }
      ++k;
    }
    EXPECT_EQ(k, 5);
  }
  // Token sets refuse augmentation; a negative pad is refused.
  Dataset tok;
  tok.images = Tensor::zeros({3, 4}, DType::I64);
  tok.labels = Tensor::zeros({3}, DType::I64);
  tok.vocab_size = 10;
  EXPECT_THROW(DataLoader(tok, o2), Error);
  o2.crop_pad = -1;
  EXPECT_THROW(DataLoader(ds, o2), Error);
}

TEST(Augment, PadImages) {
  Dataset ds;
  ds.name = "grey";
  ds.images = Tensor::empty({2, 1, 28, 28});
  ds.labels = Tensor::from_vector_i64({3, 4}, {2});
  for (int64_t i = 0; i < 2 * 784; ++i) ds.images.f32()[i] = 0.5f + float(i % 7) / 20.0f;
  const Dataset p = pad_images(ds, 32, 32);
  ASSERT_EQ(p.images.shape(), (Shape{2, 1, 32, 32}));
  EXPECT_TRUE(p.labels.same(ds.labels));
  EXPECT_EQ(p.name, "grey");
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t y = 0; y < 32; ++y)
      for (int64_t x = 0; x < 32; ++x) {
        const bool inside = y >= 2 && y < 30 && x >= 2 && x < 30;
        const float v = p.images.f32()[(i * 32 + y) * 32 + x];
        ASSERT_EQ(v, inside ? ds.images.f32()[(i * 28 + y - 2) * 28 + x - 2] : 0.0f);
      }
  const Dataset rgb = pad_images(ds, 32, 32, 3);
  ASSERT_EQ(rgb.images.shape(), (Shape{2, 3, 32, 32}));
  for (int64_t ch = 0; ch < 3; ++ch)
    for (int64_t k = 0; k < 1024; ++k)
      ASSERT_EQ(rgb.images.f32()[(1 * 3 + ch) * 1024 + k], p.images.f32()[1024 + k]);
  // Odd padding: the extra row/column goes at the bottom/right.
  const Tensor odd = pad_images(Tensor::ones({1, 1, 1, 1}), 4, 3);
  EXPECT_EQ(odd.to_vector(), (std::vector<float>{0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(pad_images(ds, 28, 28).images.to_vector(), ds.images.to_vector());
  EXPECT_THROW(pad_images(ds, 27, 32), Error);
  EXPECT_THROW(pad_images(ds, 32, 32, 2), Error);
  EXPECT_THROW(pad_images(rgb, 32, 32, 1), Error);
  EXPECT_THROW(pad_images(Tensor::zeros({2, 3}, DType::I64), 4, 4), Error);
}
