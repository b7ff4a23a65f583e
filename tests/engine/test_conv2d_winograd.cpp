// Both Winograd tile sizes, F(2x2, 3x3) and F(4x4, 3x3), called directly (conv2d_winograd picks
// one per geometry, so OpsConv2d.FastMatchesReference reaches each only where it is chosen):
// the forward product with and without bias, the input gradient through the flipped kernel,
// and the weight gradient, against the plain-loop references.
#include <gtest/gtest.h>

#include "engine/cpu/conv2d_winograd.h"
#include "engine/ops.h"
#include "tests/engine/gradcheck.h"

namespace signet {
namespace {

using test::all_close;

struct Geo {
  int64_t N, C, H, W, O, pad;
};

std::string name_of(const Geo& q) {
  return "N" + std::to_string(q.N) + " C" + std::to_string(q.C) + " " + std::to_string(q.H) + "x" +
         std::to_string(q.W) + " O" + std::to_string(q.O) + " p" + std::to_string(q.pad);
}

TEST(Conv2dWinograd, BothTileSizesMatchReference) {
#if !SIGNET_HAVE_AVX512_GEMM
  GTEST_SKIP() << "the Winograd kernels are AVX-512 only";
#endif
  const std::vector<Geo> geos = {
      // partial tiles of both sizes (9 x 11 outputs), no padding, padding 2, odd sizes
      {2, 16, 9, 11, 32, 1}, {2, 24, 10, 10, 16, 0}, {2, 16, 6, 6, 16, 2}, {4, 32, 13, 10, 24, 1},
      // channel counts that are not multiples of 16 (a part block of 16 channels; part panels
      // of kernels whether 8 or 12 tall)
      {2, 20, 10, 12, 20, 1}, {3, 36, 8, 8, 44, 1},
      // one image (threads share blocks of 32 tiles), three images with blocks crossing them
      {1, 16, 18, 18, 16, 1}, {3, 16, 13, 13, 24, 1}, {1, 40, 7, 7, 24, 1},
      // small images: one 4x4 tile an image (a group of 16 runs), 5x5, 8x8 (runs of two tiles)
      {16, 32, 4, 4, 32, 1}, {4, 16, 5, 5, 16, 1}, {6, 64, 8, 8, 80, 1},
      // 32-wide images: 8 tiles of 4 a row, two runs a group
      {2, 64, 32, 32, 64, 1},
      // 256 channels and more (panels of 12 kernels; 260 = 21 x 12 + 8), both ways
      {2, 264, 6, 6, 260, 1}};
  Rng rng(103);
  for (const Geo& q : geos) {
    const Conv2dGeom g = conv2d_geom("test", {q.N, q.C, q.H, q.W}, {q.O, q.C, 3, 3}, 1, 1, q.pad, q.pad);
    // the input gradient as a convolution of dy with the flipped kernel (conv2d_gemm_cpu.cpp)
    const Conv2dGeom t{g.N, g.O, g.Ho, g.Wo, g.C, 3, 3, 1, 1, 2 - g.ph, 2 - g.pw, g.H, g.W};
    const std::string what = name_of(q);
    Tensor x = test::uniform_tensor({q.N, q.C, q.H, q.W}, rng);
    Tensor w = test::uniform_tensor({q.O, q.C, 3, 3}, rng);
    Tensor b = test::uniform_tensor({q.O}, rng);
    Tensor dy = test::uniform_tensor({q.N, q.O, g.Ho, g.Wo}, rng);
    Tensor yr = Tensor::empty(dy.shape()), yb = Tensor::empty(dy.shape()), dxr = Tensor::empty(x.shape());
    cpu::conv2d_ref(g, x.f32(), w.f32(), nullptr, yr.f32());
    cpu::conv2d_ref(g, x.f32(), w.f32(), b.f32(), yb.f32());
    cpu::conv2d_backward_input_ref(g, dy.f32(), w.f32(), dxr.f32());
    using Fn = void (*)(const Conv2dGeom&, const float*, const float*, const float*, float*, bool);
    for (const auto& [name, fn] : {std::pair<const char*, Fn>{"F(2x2,3x3)", cpu::conv2d_winograd23},
                                   std::pair<const char*, Fn>{"F(4x4,3x3)", cpu::conv2d_winograd43}}) {
      const std::string tag = what + " " + name;
      Tensor y = Tensor::full(dy.shape(), 7.0f), y2 = Tensor::full(dy.shape(), 7.0f);
      Tensor dx = Tensor::full(x.shape(), 7.0f);
      fn(g, x.f32(), w.f32(), nullptr, y.f32(), false);
      fn(g, x.f32(), w.f32(), b.f32(), y2.f32(), false);
      fn(t, dy.f32(), w.f32(), nullptr, dx.f32(), true);
      EXPECT_TRUE(all_close(y, yr, 1e-6 * q.C * 9, 1e-5, tag + " forward"));
      EXPECT_TRUE(all_close(y2, yb, 1e-6 * q.C * 9, 1e-5, tag + " forward with bias"));
      EXPECT_TRUE(all_close(dx, dxr, 1e-6 * q.O * 9, 1e-5, tag + " input gradient"));
    }
  }
}

TEST(Conv2dWinograd, BothWeightGradientTileSizesMatchReference) {
#if !SIGNET_HAVE_AVX512_GEMM
  GTEST_SKIP() << "the Winograd kernels are AVX-512 only";
#endif
  const std::vector<Geo> geos = {
      // 32 and 48 channels; partial tiles of both sizes (9 x 11 outputs: the last block of 4
      // columns holds 3, of 2 holds 1); padding 0 and 2
      {2, 32, 8, 8, 48, 1}, {2, 48, 9, 11, 32, 1}, {4, 32, 10, 10, 32, 0}, {2, 32, 8, 8, 32, 2},
      // images of more tiles than a chunk (32 x 32: 64 tiles of 4x4, 256 of 2x2), odd counts
      // of images for two threads' shares
      {2, 32, 32, 32, 32, 1}, {6, 64, 12, 12, 32, 1},
      // 80 input channels: the last panel of 32 half past C
      {2, 80, 8, 8, 64, 1}};
  Rng rng(107);
  for (const Geo& q : geos) {
    const Conv2dGeom g = conv2d_geom("test", {q.N, q.C, q.H, q.W}, {q.O, q.C, 3, 3}, 1, 1, q.pad, q.pad);
    ASSERT_TRUE(cpu::conv2d_winograd_weight_applies(g));
    const std::string what = name_of(q);
    Tensor x = test::uniform_tensor({q.N, q.C, q.H, q.W}, rng);
    Tensor dy = test::uniform_tensor({q.N, q.O, g.Ho, g.Wo}, rng);
    Tensor dwr = Tensor::empty({q.O, q.C, 3, 3});
    cpu::conv2d_backward_weight_ref(g, dy.f32(), x.f32(), dwr.f32());
    using Fn = void (*)(const Conv2dGeom&, const float*, const float*, float*);
    for (const auto& [name, fn] : {std::pair<const char*, Fn>{"F(2x2,3x3)", cpu::conv2d_winograd_weight23},
                                   std::pair<const char*, Fn>{"F(4x4,3x3)", cpu::conv2d_winograd_weight43}}) {
      Tensor dw = Tensor::full(dwr.shape(), 7.0f);
      fn(g, dy.f32(), x.f32(), dw.f32());
      EXPECT_TRUE(all_close(dw, dwr, 1e-6 * q.N * g.Ho * g.Wo, 1e-5, what + " " + name + " weight gradient"));
    }
  }
}

}  // namespace
}  // namespace signet
