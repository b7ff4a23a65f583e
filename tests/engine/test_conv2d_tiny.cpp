// The convolutions over outputs of at most 4 pixels (conv2d_tiny.h), called directly and through
// the fast entry points that route to them, against the plain-loop references: forward with and
// without bias, and the input gradient (each tap's sums added back onto the input pixels).
#include <gtest/gtest.h>

#include "engine/cpu/conv2d_tiny.h"
#include "engine/ops.h"
#include "tests/engine/gradcheck.h"

namespace signet {
namespace {

using test::all_close;

struct Geo {
  int64_t N, C, H, W, O, kh, kw, sh, sw, ph, pw;
};

TEST(Conv2dTiny, MatchesReference) {
#if !SIGNET_HAVE_AVX512_GEMM
  GTEST_SKIP() << "the tiny-output kernels are AVX-512 only";
#endif
  const std::vector<Geo> geos = {
      // resnet50's layer4 shape, small: 2x2 images, 3x3 padding 1 (rows in tiles of 6, then 2
      // single rows); the stride-2 entry (4x4 -> 2x2) with a second, part-full chunk of images
      {16, 20, 2, 2, 14, 3, 3, 1, 1, 1, 1},
      {20, 7, 4, 4, 9, 3, 3, 2, 2, 1, 1},
      // one output pixel (tiles of 12) over half a chunk; two (2x1, tiles of 8) with 17 images;
      // three (3x1 kernel and image, tiles of 6)
      {8, 5, 3, 3, 13, 3, 3, 1, 1, 0, 0},
      {17, 6, 2, 1, 19, 3, 3, 1, 1, 1, 1},
      {9, 4, 3, 1, 5, 3, 1, 1, 1, 1, 0},
      // a 5x5 kernel on 2x2 images (25 taps); a 2x2 kernel without padding; a 2x3 kernel
      {16, 3, 2, 2, 4, 5, 5, 1, 1, 2, 2},
      {12, 8, 3, 3, 6, 2, 2, 1, 1, 0, 0},
      {16, 16, 2, 2, 12, 2, 3, 1, 1, 0, 1},
      // 1x1 kernels (the forward only is routed here): 2x2 images, and stride 2 from 4x4
      {16, 24, 2, 2, 20, 1, 1, 1, 1, 0, 0},
      {10, 12, 4, 4, 7, 1, 1, 2, 2, 0, 0}};
  Rng rng(71);
  for (const Geo& q : geos) {
    const Conv2dGeom g = conv2d_geom("test", {q.N, q.C, q.H, q.W}, {q.O, q.C, q.kh, q.kw}, q.sh, q.sw, q.ph, q.pw);
    const std::string what = "N" + std::to_string(q.N) + " C" + std::to_string(q.C) + " " + std::to_string(q.H) +
                             "x" + std::to_string(q.W) + " O" + std::to_string(q.O) + " k" + std::to_string(q.kh) +
                             "x" + std::to_string(q.kw) + " s" + std::to_string(q.sh) + " p" + std::to_string(q.ph) +
                             "," + std::to_string(q.pw);
    ASSERT_TRUE(cpu::conv2d_tiny_applies(g)) << what;
    Tensor x = test::uniform_tensor({q.N, q.C, q.H, q.W}, rng);
    Tensor w = test::uniform_tensor({q.O, q.C, q.kh, q.kw}, rng);
    Tensor b = test::uniform_tensor({q.O}, rng);
    Tensor dy = test::uniform_tensor({q.N, q.O, g.Ho, g.Wo}, rng);
    const double K = static_cast<double>(q.C * q.kh * q.kw);
    for (bool with_bias : {false, true}) {
      const float* bias = with_bias ? b.f32() : nullptr;
      Tensor yr = Tensor::empty(dy.shape()), yt = Tensor::full(dy.shape(), 7.0f), yf = Tensor::full(dy.shape(), 7.0f);
      cpu::conv2d_ref(g, x.f32(), w.f32(), bias, yr.f32());
      cpu::conv2d_tiny_forward(g, x.f32(), w.f32(), bias, yt.f32());
      cpu::conv2d_fast(g, x.f32(), w.f32(), bias, yf.f32());
      EXPECT_TRUE(all_close(yt, yr, 1e-6 * K, 1e-5, what + " forward"));
      EXPECT_TRUE(all_close(yf, yr, 1e-6 * K, 1e-5, what + " forward (fast entry)"));
    }
    Tensor dxr = Tensor::empty(x.shape()), dxt = Tensor::full(x.shape(), 7.0f), dxf = Tensor::full(x.shape(), 7.0f);
    cpu::conv2d_backward_input_ref(g, dy.f32(), w.f32(), dxr.f32());
    cpu::conv2d_tiny_backward_input(g, dy.f32(), w.f32(), dxt.f32());
    cpu::conv2d_backward_input_fast(g, dy.f32(), w.f32(), dxf.f32());
    const double tol = 1e-6 * static_cast<double>(q.O * q.kh * q.kw);
    EXPECT_TRUE(all_close(dxt, dxr, tol, 1e-5, what + " backward_input"));
    EXPECT_TRUE(all_close(dxf, dxr, tol, 1e-5, what + " backward_input (fast entry)"));
  }
}

// Outside its shapes the fast entry points keep their other paths.
TEST(Conv2dTiny, AppliesOnlyToTinyOutputs) {
  const auto geom = [](int64_t N, int64_t H, int64_t k, int64_t s, int64_t p) {
    return conv2d_geom("test", {N, 4, H, H}, {4, 4, k, k}, s, s, p, p);
  };
  EXPECT_TRUE(cpu::conv2d_tiny_applies(geom(16, 2, 1, 1, 0)));  // 1x1: the forward, not the input gradient
  EXPECT_FALSE(cpu::conv2d_tiny_backward_input_applies(geom(16, 2, 1, 1, 0)));
  EXPECT_TRUE(cpu::conv2d_tiny_backward_input_applies(geom(16, 2, 3, 1, 1)));
  EXPECT_FALSE(cpu::conv2d_tiny_applies(geom(16, 3, 3, 1, 1)));  // 9 output pixels
  EXPECT_FALSE(cpu::conv2d_tiny_applies(geom(4, 2, 3, 1, 1)));   // a quarter of a chunk of images
}

}  // namespace
}  // namespace signet
