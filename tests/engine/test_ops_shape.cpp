// Differentiable shape ops: reshape, flatten, transpose, narrow, narrow_pad, concat,
// contiguous. Views, values, gradients, double backward, errors.
#include <gtest/gtest.h>

#include "engine/ops.h"
#include "tests/engine/gradcheck.h"

namespace signet {
namespace {

using test::all_close;
using test::throws_error;

Tensor iota(const Shape& s) {
  std::vector<float> v(shape_numel(s));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i);
  return Tensor::from_vector(v, s);
}

TEST(OpsShape, Reshape) {
  Tensor x = iota({2, 3, 4});
  Tensor r = reshape(x, {6, 4});
  EXPECT_EQ(r.shape(), (Shape{6, 4}));
  EXPECT_EQ(r.storage(), x.storage());  // a view of a contiguous tensor
  EXPECT_EQ(r.to_vector(), x.to_vector());
  EXPECT_EQ(reshape(x, {-1, 8}).shape(), (Shape{3, 8}));
  EXPECT_EQ(reshape(x, {2, -1}).shape(), (Shape{2, 12}));
  EXPECT_EQ(reshape(x, {-1}).shape(), (Shape{24}));
  EXPECT_TRUE(reshape(x, {2, 3, 4}).same(x));
  EXPECT_EQ(reshape(Tensor::scalar(5), {1, 1}).shape(), (Shape{1, 1}));
  // a strided input is copied in row-major order of its logical shape
  Tensor t = iota({2, 3}).transpose_view(0, 1);  // [[0,3],[1,4],[2,5]]
  Tensor rt = reshape(t, {6});
  EXPECT_NE(rt.storage(), t.storage());
  EXPECT_EQ(rt.to_vector(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
}

TEST(OpsShape, FlattenTranspose) {
  Tensor x = iota({2, 3, 4});
  EXPECT_EQ(flatten(x).shape(), (Shape{2, 12}));
  EXPECT_EQ(flatten(x, 0).shape(), (Shape{24}));
  EXPECT_EQ(flatten(x, 2).shape(), (Shape{2, 3, 4}));
  EXPECT_EQ(flatten(x, -2).shape(), (Shape{2, 12}));
  EXPECT_EQ(flatten(iota({4, 1, 2, 2})).shape(), (Shape{4, 4}));

  Tensor t = transpose(x, 0, 2);
  EXPECT_EQ(t.shape(), (Shape{4, 3, 2}));
  EXPECT_EQ(t.storage(), x.storage());
  // t[k, j, i] = x[i, j, k] = 12 i + 4 j + k
  const std::vector<float> v = t.to_vector();
  EXPECT_EQ(v[0 * 6 + 2 * 2 + 1], 12 + 8);
  EXPECT_EQ(v[3 * 6 + 1 * 2 + 0], 4 + 3);
  EXPECT_EQ(transpose(x, -1, 0).to_vector(), v);
}

TEST(OpsShape, NarrowAndPad) {
  Tensor x = iota({3, 4});
  Tensor n = narrow(x, 1, 1, 2);
  EXPECT_EQ(n.shape(), (Shape{3, 2}));
  EXPECT_EQ(n.storage(), x.storage());
  EXPECT_EQ(n.to_vector(), (std::vector<float>{1, 2, 5, 6, 9, 10}));
  EXPECT_EQ(narrow(x, -2, 2, 1).to_vector(), (std::vector<float>{8, 9, 10, 11}));
  EXPECT_EQ(narrow(x, 0, 3, 0).numel(), 0);
  Tensor p = narrow_pad(Tensor::ones({3, 2}), {3, 4}, 1, 1);
  EXPECT_EQ(p.to_vector(), (std::vector<float>{0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0}));
}

TEST(OpsShape, Concat) {
  Tensor a = iota({2, 2}), b = add_scalar(iota({2, 3}), 10);
  Tensor c = concat({a, b}, 1);
  EXPECT_EQ(c.shape(), (Shape{2, 5}));
  EXPECT_EQ(c.to_vector(), (std::vector<float>{0, 1, 10, 11, 12, 2, 3, 13, 14, 15}));
  Tensor d = concat({a, a, a}, 0);
  EXPECT_EQ(d.shape(), (Shape{6, 2}));
  EXPECT_EQ(d.to_vector(), (std::vector<float>{0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3}));
  EXPECT_EQ(concat({a, b}, -1).shape(), (Shape{2, 5}));
  // strided inputs and int64
  EXPECT_EQ(concat({a.transpose_view(0, 1), a}, 0).to_vector(),
            (std::vector<float>{0, 2, 1, 3, 0, 1, 2, 3}));
  Tensor i = concat({Tensor::arange_i64(2), Tensor::arange_i64(3)}, 0);
  EXPECT_EQ(i.to_vector_i64(), (std::vector<int64_t>{0, 1, 0, 1, 2}));
}

TEST(OpsShape, Contiguous) {
  Tensor x = iota({2, 3});
  EXPECT_TRUE(contiguous(x).same(x));
  Tensor t = transpose(x, 0, 1);
  Tensor c = contiguous(t);
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_EQ(c.to_vector(), t.to_vector());
}

TEST(OpsShape, Errors) {
  Tensor x = iota({2, 3});
  EXPECT_TRUE(throws_error([&] { reshape(x, {4, 2}); }, "cannot reshape"));
  EXPECT_TRUE(throws_error([&] { reshape(x, {-1, -1}); }, "more than one -1"));
  EXPECT_TRUE(throws_error([&] { reshape(x, {-1, 4}); }, "cannot reshape"));
  EXPECT_TRUE(throws_error([&] { flatten(x, 2); }, "start_dim"));
  EXPECT_TRUE(throws_error([&] { transpose(x, 0, 2); }, "transpose"));
  EXPECT_TRUE(throws_error([&] { narrow(x, 1, 2, 2); }, "outside"));
  EXPECT_TRUE(throws_error([&] { narrow(x, 0, -1, 1); }, "outside"));
  EXPECT_TRUE(throws_error([&] { narrow(x, 2, 0, 1); }, "dimension"));
  EXPECT_TRUE(throws_error([] { concat({}, 0); }, "no tensors"));
  EXPECT_TRUE(throws_error([&] { concat({x, iota({3, 3})}, 1); }, "differ outside dim"));
  EXPECT_TRUE(throws_error([&] { concat({x, iota({6})}, 0); }, "does not match"));
  EXPECT_TRUE(throws_error([&] { concat({x, Tensor::zeros({2, 3}, DType::I64)}, 0); }, "int64"));
  EXPECT_TRUE(throws_error([&] { concat({x, x}, 2); }, "dim out of range"));
}

TEST(OpsShape, Gradcheck) {
  Rng rng(13);
  Tensor x = test::uniform_tensor({2, 3, 4}, rng);
  Tensor y = test::uniform_tensor({2, 2, 4}, rng);
  auto ok = [](const test::Fn& f, std::vector<Tensor> in) { return test::gradcheck(f, in); };
  EXPECT_TRUE(ok([](const auto& v) { return reshape(v[0], {4, -1}); }, {x}));
  EXPECT_TRUE(ok([](const auto& v) { return reshape(transpose(v[0], 0, 1), {6, 4}); }, {x}));
  EXPECT_TRUE(ok([](const auto& v) { return flatten(v[0]); }, {x}));
  EXPECT_TRUE(ok([](const auto& v) { return transpose(v[0], 0, 2); }, {x}));
  EXPECT_TRUE(ok([](const auto& v) { return narrow(v[0], 2, 1, 2); }, {x}));
  EXPECT_TRUE(ok([](const auto& v) { return narrow(v[0], -2, 0, 1); }, {x}));
  EXPECT_TRUE(ok([](const auto& v) { return narrow_pad(v[0], {2, 5, 4}, 1, 2); }, {x}));
  EXPECT_TRUE(ok([](const auto& v) { return concat({v[0], v[1]}, 1); }, {x, y}));
  EXPECT_TRUE(ok([](const auto& v) { return concat({v[1], v[0], v[1]}, -2); }, {x, y}));
  EXPECT_TRUE(ok([](const auto& v) { return contiguous(transpose(v[0], 1, 2)); }, {x}));
  // narrow of a narrow, gradient lands in the right slice
  Tensor z = iota({4, 4}).set_requires_grad(true);
  sum(narrow(narrow(z, 0, 1, 2), 1, 2, 2)).backward();
  EXPECT_EQ(z.grad().to_vector(),
            (std::vector<float>{0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0}));
}

TEST(OpsShape, DoubleBackward) {
  Rng rng(14);
  Tensor x = test::uniform_tensor({2, 3}, rng), y = test::uniform_tensor({2, 2}, rng);
  auto sq = [](const Tensor& t) { return mul(t, t); };
  EXPECT_TRUE(test::gradgradcheck([&](const auto& v) { return sq(reshape(v[0], {3, 2})); }, {x}));
  EXPECT_TRUE(test::gradgradcheck([&](const auto& v) { return sq(transpose(v[0], 0, 1)); }, {x}));
  EXPECT_TRUE(test::gradgradcheck([&](const auto& v) { return sq(narrow(v[0], 1, 1, 2)); }, {x}));
  EXPECT_TRUE(test::gradgradcheck([&](const auto& v) { return sq(concat({v[0], v[1]}, 1)); }, {x, y}));
}

}  // namespace
}  // namespace signet
