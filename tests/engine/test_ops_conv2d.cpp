// conv2d and its backward ops: hand-computed examples, fast (implicit-im2col GEMM) vs the direct-loop
// reference on many geometries, first- and second-order gradient checks, errors.
#include <gtest/gtest.h>

#include "engine/ops.h"
#include "tests/engine/gradcheck.h"

namespace signet {
namespace {

using test::all_close;
using test::throws_error;

TEST(OpsConv2d, HandComputed) {
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 1, 3, 3});
  Tensor w = Tensor::from_vector({1, 0, 0, -1}, {1, 1, 2, 2});  // y[i,j] = x[i,j] - x[i+1,j+1]
  Tensor y = conv2d(x, w);
  EXPECT_EQ(y.shape(), (Shape{1, 1, 2, 2}));
  EXPECT_TRUE(all_close(y, std::vector<float>{-4, -4, -4, -4}));
  EXPECT_TRUE(all_close(conv2d(x, w, Tensor::from_vector({0.5f}, {1})), std::vector<float>{-3.5f, -3.5f, -3.5f, -3.5f}));
  // stride 2, padding 1: windows start at (-1,-1), (-1,1), (1,-1), (1,1); padding reads 0.
  Tensor y2 = conv2d(x, w, Tensor(), 2, 1);
  EXPECT_EQ(y2.shape(), (Shape{1, 1, 2, 2}));
  EXPECT_TRUE(all_close(y2, std::vector<float>{-1, -3, -7, -4}));
  // two input channels, two output channels, 1x1: y0 = 2 x0 - x1, y1 = x1 + 1 (bias)
  Tensor x2 = Tensor::from_vector({1, 2, 3, 4, 10, 20, 30, 40}, {1, 2, 2, 2});
  Tensor w2 = Tensor::from_vector({2, -1, 0, 1}, {2, 2, 1, 1});
  EXPECT_TRUE(all_close(conv2d(x2, w2, Tensor::from_vector({0, 1}, {2})),
                        std::vector<float>{-8, -16, -24, -32, 11, 21, 31, 41}));
  // separate strides and paddings: [1,1,3,3] * ones 1x3, stride (1, 2), padding (0, 1)
  Tensor y3 = conv2d(x, Tensor::ones({1, 1, 1, 3}), Tensor(), 1, 2, 0, 1);
  EXPECT_EQ(y3.shape(), (Shape{1, 1, 3, 2}));
  EXPECT_TRUE(all_close(y3, std::vector<float>{3, 5, 9, 11, 15, 17}));
}

TEST(OpsConv2d, BackwardHandComputed) {
  // y = x * w on a 3x3 image with a 2x2 kernel; dL/dy = ones: dx[h,w] = sum of the kernel
  // entries that touched (h,w); dw[a,b] = sum of the x values under kernel entry (a,b).
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 1, 3, 3});
  x.set_requires_grad(true);
  Tensor w = Tensor::from_vector({1, 2, 3, 4}, {1, 1, 2, 2});
  w.set_requires_grad(true);
  Tensor b = Tensor::from_vector({0}, {1});
  b.set_requires_grad(true);
  sum(conv2d(x, w, b)).backward();
  EXPECT_TRUE(all_close(x.grad(), std::vector<float>{1, 3, 2, 4, 10, 6, 3, 7, 4}));
  EXPECT_TRUE(all_close(w.grad(), std::vector<float>{12, 16, 24, 28}));
  EXPECT_TRUE(all_close(b.grad(), std::vector<float>{4}));
  // stride 2 on a 4x4 input with a 2x2 kernel... and a 5x5 input: the last row/column is
  // never read, so its gradient is zero.
  Tensor x5 = Tensor::ones({1, 1, 5, 5});
  x5.set_requires_grad(true);
  sum(conv2d(x5, Tensor::ones({1, 1, 2, 2}), Tensor(), 2, 0)).backward();
  const std::vector<float> g = x5.grad().to_vector();
  for (int64_t i = 0; i < 5; ++i)
    for (int64_t j = 0; j < 5; ++j) EXPECT_EQ(g[i * 5 + j], (i < 4 && j < 4) ? 1.0f : 0.0f) << i << "," << j;
}

struct Geo {
  int64_t N, C, H, W, O, kh, kw, sh, sw, ph, pw;
};

TEST(OpsConv2d, FastMatchesReference) {
  const std::vector<Geo> geos = {
      {1, 1, 5, 5, 1, 3, 3, 1, 1, 0, 0},     {2, 3, 7, 6, 4, 3, 3, 1, 1, 1, 1},
      {3, 2, 9, 8, 5, 3, 3, 2, 2, 1, 1},     {2, 4, 6, 6, 3, 1, 1, 1, 1, 0, 0},   // 1x1 (no im2col)
      {2, 4, 7, 7, 3, 1, 1, 2, 2, 0, 0},     {2, 3, 15, 13, 4, 7, 7, 2, 2, 3, 3}, // 1x1 stride 2; 7x7
      {2, 2, 8, 9, 3, 2, 3, 1, 2, 0, 1},     {1, 2, 4, 4, 2, 3, 3, 1, 1, 2, 2},   // rectangular; big pad
      {5, 3, 10, 7, 2, 5, 3, 3, 2, 2, 1},    {8, 16, 16, 16, 16, 3, 3, 1, 1, 1, 1}, // batch-parallel path
      {1, 16, 20, 20, 16, 3, 3, 1, 1, 1, 1}, {3, 5, 3, 3, 2, 3, 3, 1, 1, 0, 0},   // batch 1 (GEMM threads); 1x1 out
      {4, 8, 12, 12, 8, 1, 1, 1, 1, 0, 0},
      // Many images per GEMM, tiles straddling images (outputs of 9 and 9 pixels).
      {20, 6, 3, 3, 5, 3, 3, 1, 1, 1, 1},    {20, 8, 6, 6, 6, 1, 1, 2, 2, 0, 0},
      // Several k-blocks (K = 288) and more columns than one B panel (4 x 1024), 13 rows;
      // 3 images on 2 threads (the GEMM's threads split it), 49-pixel outputs, 40 rows;
      // stride 2 with 25-pixel outputs and 24 rows (a multiple of 8 and of 12).
      {4, 32, 32, 32, 13, 3, 3, 1, 1, 1, 1}, {3, 20, 7, 7, 40, 3, 3, 1, 1, 1, 1},
      {5, 6, 9, 9, 24, 3, 3, 2, 2, 1, 1},
      // 32-wide output rows (tiled exactly) with two k-blocks (K = 576).
      {2, 64, 32, 32, 8, 3, 3, 1, 1, 1, 1},
      // Input gradients folded by input-channel ranges (tiny images) and by images (stride 2).
      {4, 64, 3, 3, 64, 3, 3, 1, 1, 1, 1},   {4, 8, 34, 34, 8, 3, 3, 2, 2, 1, 1},
      // Winograd F(2x2, 3x3): odd output sizes (partial tiles), no padding, padding 2, and a
      // batch over threads with tiles crossing images (7 x 5 tiles per image); channel counts
      // that are (16, 32) and are not (24, 20) multiples of 16 (the weight gradient's rule).
      {2, 16, 9, 11, 32, 3, 3, 1, 1, 1, 1},  {2, 24, 10, 10, 16, 3, 3, 1, 1, 0, 0},
      {2, 16, 6, 6, 16, 3, 3, 1, 1, 2, 2},   {4, 32, 13, 10, 24, 3, 3, 1, 1, 1, 1},
      // 20 channels both ways: a last panel of kernels part empty whether 8 or 12 tall, and a
      // part block of 16 channels, forward and flipped (the input gradient reads w in place).
      {2, 20, 10, 12, 20, 3, 3, 1, 1, 1, 1},
      // Too few images to go round the threads, which share blocks of 32 tiles instead: one
      // image of 81 tiles, and three of 49 (blocks crossing images, a part block at the end).
      {1, 16, 18, 18, 16, 3, 3, 1, 1, 1, 1}, {3, 16, 13, 13, 24, 3, 3, 1, 1, 1, 1},
      // Small images (outputs of 5x5 and 4x4, down to one block for many images), forward and
      // flipped for the input gradient.
      {4, 16, 5, 5, 16, 3, 3, 1, 1, 1, 1},   {16, 32, 4, 4, 32, 3, 3, 1, 1, 1, 1},
      // At most 32 output pixels in the batch (the narrow input gradient): 4 pixels with K =
      // 360 (a part vector); 27 pixels (rows in groups of 8, 8, 8, 2, 1); 32; a strided 1x1;
      // and threads splitting K = 2304.
      {1, 40, 2, 2, 24, 3, 3, 1, 1, 1, 1},   {3, 10, 3, 3, 12, 3, 3, 1, 1, 1, 1},
      {2, 24, 4, 4, 40, 3, 3, 1, 1, 1, 1},   {1, 64, 7, 7, 20, 1, 1, 2, 2, 0, 0},
      {1, 256, 2, 2, 256, 3, 3, 1, 1, 1, 1},
      // At most 8 pixels (the narrow forward too): 7 images of one pixel (rows of W in groups
      // of 3 and a single one), and 2 images of a stride-2 padded 2x2 output.
      {7, 16, 1, 1, 10, 1, 1, 1, 1, 0, 0},   {2, 8, 4, 4, 12, 3, 3, 2, 2, 1, 1},
      // Winograd weight gradient (>= 64 channels): two chunks of tiles per thread (one 24x24
      // image each, its 144 tiles taken 64, 64 and 16 at a time); 81 tiles an image (64 and a
      // part group of 17); odd output size; images smaller than a chunk.
      {4, 64, 24, 24, 64, 3, 3, 1, 1, 1, 1}, {2, 64, 18, 18, 64, 3, 3, 1, 1, 1, 1},
      {2, 64, 9, 11, 64, 3, 3, 1, 1, 1, 1},  {2, 32, 10, 10, 48, 3, 3, 1, 1, 1, 1},  // 32 channels in
      {6, 64, 8, 8, 80, 3, 3, 1, 1, 1, 1},
      // 80 input channels: the last panel of 32 is half past C (zero-filled, not transformed).
      {2, 80, 8, 8, 64, 3, 3, 1, 1, 1, 1}};
  Rng rng(101);
  for (const Geo& q : geos) {
    const Conv2dGeom g = conv2d_geom("test", {q.N, q.C, q.H, q.W}, {q.O, q.C, q.kh, q.kw}, q.sh, q.sw, q.ph, q.pw);
    const std::string what = "N" + std::to_string(q.N) + " C" + std::to_string(q.C) + " " + std::to_string(q.H) +
                             "x" + std::to_string(q.W) + " O" + std::to_string(q.O) + " k" + std::to_string(q.kh) +
                             "x" + std::to_string(q.kw) + " s" + std::to_string(q.sh) + "," + std::to_string(q.sw) +
                             " p" + std::to_string(q.ph) + "," + std::to_string(q.pw);
    Tensor x = test::uniform_tensor({q.N, q.C, q.H, q.W}, rng);
    Tensor w = test::uniform_tensor({q.O, q.C, q.kh, q.kw}, rng);
    Tensor b = test::uniform_tensor({q.O}, rng);
    Tensor dy = test::uniform_tensor({q.N, q.O, g.Ho, g.Wo}, rng);
    const double K = static_cast<double>(q.C * q.kh * q.kw);
    for (bool with_bias : {false, true}) {
      Tensor yr = Tensor::empty(dy.shape()), yf = Tensor::empty(dy.shape());
      cpu::conv2d_ref(g, x.f32(), w.f32(), with_bias ? b.f32() : nullptr, yr.f32());
      cpu::conv2d_fast(g, x.f32(), w.f32(), with_bias ? b.f32() : nullptr, yf.f32());
      EXPECT_TRUE(all_close(yf, yr, 1e-6 * K, 1e-5, what + " forward"));
    }
    Tensor dxr = Tensor::empty(x.shape()), dxf = Tensor::full(x.shape(), 7.0f);
    cpu::conv2d_backward_input_ref(g, dy.f32(), w.f32(), dxr.f32());
    cpu::conv2d_backward_input_fast(g, dy.f32(), w.f32(), dxf.f32());
    EXPECT_TRUE(all_close(dxf, dxr, 1e-6 * q.O * q.kh * q.kw, 1e-5, what + " backward_input"));
    Tensor dwr = Tensor::empty(w.shape()), dwf = Tensor::full(w.shape(), 7.0f);
    cpu::conv2d_backward_weight_ref(g, dy.f32(), x.f32(), dwr.f32());
    cpu::conv2d_backward_weight_fast(g, dy.f32(), x.f32(), dwf.f32());
    EXPECT_TRUE(all_close(dwf, dwr, 1e-6 * q.N * g.Ho * g.Wo, 1e-5, what + " backward_weight"));
    // The op entry point agrees with the reference, also for non-contiguous inputs.
    Tensor xt = x.transpose_view(2, 3).contiguous().transpose_view(2, 3);
    Tensor yr = Tensor::empty(dy.shape());
    cpu::conv2d_ref(g, x.f32(), w.f32(), b.f32(), yr.f32());
    EXPECT_TRUE(all_close(conv2d(xt, w, b, q.sh, q.sw, q.ph, q.pw), yr, 1e-6 * K, 1e-5, what + " op"));
  }
}

TEST(OpsConv2d, Gradcheck) {
  Rng rng(11);
  for (const Geo& q : std::vector<Geo>{{2, 2, 5, 4, 3, 3, 3, 2, 2, 1, 1}, {1, 3, 4, 5, 2, 2, 3, 1, 1, 0, 1},
                                       {2, 2, 3, 3, 2, 1, 1, 1, 1, 0, 0}}) {
    Tensor x = test::uniform_tensor({q.N, q.C, q.H, q.W}, rng);
    Tensor w = test::uniform_tensor({q.O, q.C, q.kh, q.kw}, rng);
    Tensor b = test::uniform_tensor({q.O}, rng);
    auto f = [q](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], in[2], q.sh, q.sw, q.ph, q.pw); };
    EXPECT_TRUE(test::gradcheck(f, {x, w, b}));
    auto nob = [q](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], Tensor(), q.sh, q.sw, q.ph, q.pw); };
    EXPECT_TRUE(test::gradcheck(nob, {x, w}));
  }
}

// Gradients of gradients: the input gradient differentiated w.r.t. the weights (GradSigns),
// and every mixed second derivative of conv2d.
TEST(OpsConv2d, DoubleBackward) {
  Rng rng(12);
  Tensor x = test::uniform_tensor({2, 2, 5, 5}, rng), w = test::uniform_tensor({3, 2, 3, 3}, rng);
  Tensor b = test::uniform_tensor({3}, rng);
  auto f = [](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], in[2], 2, 2, 1, 1); };
  EXPECT_TRUE(test::gradgradcheck(f, {x, w, b}));
  // Through a nonlinearity: L = sum(tanh(conv(x, w)) * R); G = <dL/dx, V>; dG/dw.
  auto g = [](const std::vector<Tensor>& in) { return tanh(conv2d(in[0], in[1], Tensor(), 1, 1, 1, 1)); };
  EXPECT_TRUE(test::gradgradcheck(g, {x, w}));
  // dG/dw alone, with G = <d sum(conv(x,w)^2)/dx, V>, against a closed form:
  // d/dx = backward_input(2y, w), so G = <2 conv(x,w), conv(V,w)>, dG/dw = 2 bwd_w(conv(V,w), x) + 2 bwd_w(y, V).
  Tensor xl = x.clone().set_requires_grad(true), wl = w.clone().set_requires_grad(true);
  Tensor y = conv2d(xl, wl, Tensor(), 1, 1, 1, 1);
  Tensor gx = grad(sum(y * y), {xl}, Tensor(), true)[0];
  Tensor V = test::uniform_tensor(x.shape(), rng);
  Tensor dGdw = grad(sum(gx * V), {wl})[0];
  NoGradGuard ng;
  Tensor yv = conv2d(V, w, Tensor(), 1, 1, 1, 1), y0 = conv2d(x, w, Tensor(), 1, 1, 1, 1);
  Tensor want = conv2d_backward_weight(yv, x, w.shape(), 1, 1, 1, 1) * 2.0f +
                conv2d_backward_weight(y0, V, w.shape(), 1, 1, 1, 1) * 2.0f;
  EXPECT_TRUE(all_close(dGdw, want, 1e-4, 1e-4, "dG/dw"));
}

// The backward ops are ops in their own right: check them in both arguments, and their own
// double backward (stride 2 with an unreached last row exercises the explicit shapes).
TEST(OpsConv2d, BackwardOpsGradcheck) {
  Rng rng(13);
  const Shape xs{2, 2, 6, 5}, ws{3, 2, 3, 3};
  const Conv2dGeom g = conv2d_geom("test", xs, ws, 2, 2, 0, 1);
  Tensor gy = test::uniform_tensor({2, 3, g.Ho, g.Wo}, rng);
  Tensor w = test::uniform_tensor(ws, rng), x = test::uniform_tensor(xs, rng);
  auto bi = [&](const std::vector<Tensor>& in) { return conv2d_backward_input(in[0], in[1], xs, 2, 2, 0, 1); };
  auto bw = [&](const std::vector<Tensor>& in) { return conv2d_backward_weight(in[0], in[1], ws, 2, 2, 0, 1); };
  EXPECT_TRUE(test::gradcheck(bi, {gy, w}));
  EXPECT_TRUE(test::gradcheck(bw, {gy, x}));
  EXPECT_TRUE(test::gradgradcheck(bi, {gy, w}));
  EXPECT_TRUE(test::gradgradcheck(bw, {gy, x}));
}

TEST(OpsConv2d, Errors) {
  Tensor x = Tensor::zeros({1, 3, 8, 8}), w = Tensor::zeros({4, 3, 3, 3});
  EXPECT_TRUE(throws_error([&] { conv2d(x, Tensor::zeros({4, 2, 3, 3})); }, "3 channels"));
  EXPECT_TRUE(throws_error([&] { conv2d(Tensor::zeros({3, 8, 8}), w); }, "[N, C, H, W]"));
  EXPECT_TRUE(throws_error([&] { conv2d(x, Tensor::zeros({4, 3, 3})); }, "4-d"));
  EXPECT_TRUE(throws_error([&] { conv2d(x, Tensor::zeros({4, 3, 9, 9})); }, "larger than the padded input"));
  EXPECT_TRUE(throws_error([&] { conv2d(x, w, Tensor::zeros({3})); }, "bias"));
  EXPECT_TRUE(throws_error([&] { conv2d(x, w, Tensor(), 0, 0); }, "stride"));
  EXPECT_TRUE(throws_error([&] { conv2d(x, w, Tensor(), 1, -1); }, "padding"));
  EXPECT_TRUE(throws_error([&] { conv2d(Tensor::zeros({1, 3, 8, 8}, DType::I64), w); }, "float32"));
  EXPECT_TRUE(throws_error([&] { conv2d_backward_input(Tensor::zeros({1, 4, 5, 5}), w, x.shape(), 1, 1, 0, 0); },
                           "does not match"));
  EXPECT_TRUE(throws_error([&] { conv2d_backward_weight(Tensor::zeros({1, 4, 6, 7}), x, w.shape(), 1, 1, 0, 0); },
                           "does not match"));
  // an empty batch is fine
  EXPECT_EQ(conv2d(Tensor::zeros({0, 3, 8, 8}), w, Tensor(), 1, 1).shape(), (Shape{0, 4, 8, 8}));
}

}  // namespace
}  // namespace signet
