// Tensor: factories, metadata, views sharing storage, strided copies, data access, errors.
#include <gtest/gtest.h>

#include "engine/ops.h"
#include "engine/tensor.h"
#include "tests/engine/gradcheck.h"

namespace signet {
namespace {

using test::all_close;
using test::throws_error;

TEST(Tensor, Factories) {
  Tensor e = Tensor::empty({2, 3});
  EXPECT_EQ(e.shape(), (Shape{2, 3}));
  EXPECT_EQ(e.strides(), (Shape{3, 1}));
  EXPECT_EQ(e.dtype(), DType::F32);
  EXPECT_EQ(e.numel(), 6);
  EXPECT_EQ(e.dim(), 2);
  EXPECT_TRUE(e.device().is_cpu());
  EXPECT_EQ(e.offset(), 0);

  EXPECT_TRUE(all_close(Tensor::zeros({2, 2}), std::vector<float>{0, 0, 0, 0}));
  EXPECT_TRUE(all_close(Tensor::ones({3}), std::vector<float>{1, 1, 1}));
  EXPECT_TRUE(all_close(Tensor::full({2}, 2.5f), std::vector<float>{2.5f, 2.5f}));
  Tensor zi = Tensor::zeros({3}, DType::I64);
  EXPECT_EQ(zi.to_vector_i64(), (std::vector<int64_t>{0, 0, 0}));

  Tensor s = Tensor::scalar(4.0f);
  EXPECT_EQ(s.dim(), 0);
  EXPECT_EQ(s.numel(), 1);
  EXPECT_EQ(s.item(), 4.0f);

  Tensor v = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(v.to_vector(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  Tensor vi = Tensor::from_vector_i64({7, -8}, {2});
  EXPECT_EQ(vi.dtype(), DType::I64);
  EXPECT_EQ(vi.to_vector_i64(), (std::vector<int64_t>{7, -8}));
  EXPECT_EQ(Tensor::arange_i64(4).to_vector_i64(), (std::vector<int64_t>{0, 1, 2, 3}));

  Tensor z = Tensor::zeros({0, 5});
  EXPECT_EQ(z.numel(), 0);
  EXPECT_TRUE(z.to_vector().empty());
}

TEST(Tensor, FactoryErrors) {
  EXPECT_TRUE(throws_error([] { Tensor::from_vector({1, 2, 3}, {2, 2}); }, "do not fill"));
  EXPECT_TRUE(throws_error([] { Tensor::from_vector_i64({1}, {2}); }, "do not fill"));
  EXPECT_TRUE(throws_error([] { Tensor::empty({2, -1}); }, "negative"));
}

TEST(Tensor, ShapeHelpers) {
  EXPECT_EQ(shape_str({128, 784}), "[128, 784]");
  EXPECT_EQ(shape_str({}), "[]");
  EXPECT_EQ(shape_numel({2, 3, 4}), 24);
  EXPECT_EQ(shape_numel({}), 1);
  EXPECT_EQ(contiguous_strides({2, 3, 4}), (Shape{12, 4, 1}));
  EXPECT_EQ(dtype_size(DType::F32), 4u);
  EXPECT_EQ(dtype_size(DType::I64), 8u);
  EXPECT_STREQ(dtype_name(DType::I64), "int64");
  EXPECT_EQ(Tensor::zeros({2, 3}).str(), "Tensor(float32, [2, 3], cpu)");
  EXPECT_EQ(Tensor().str(), "Tensor(undefined)");
}

TEST(Tensor, SizeAndContiguity) {
  Tensor t = Tensor::zeros({2, 3, 4});
  EXPECT_EQ(t.size(0), 2);
  EXPECT_EQ(t.size(-1), 4);
  EXPECT_EQ(t.size(-3), 2);
  EXPECT_TRUE(throws_error([&] { t.size(3); }, "out of range"));
  EXPECT_TRUE(throws_error([&] { t.size(-4); }, "out of range"));
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_FALSE(t.transpose_view(0, 2).is_contiguous());
  EXPECT_FALSE(t.narrow_view(2, 1, 2).is_contiguous());
  EXPECT_TRUE(t.narrow_view(0, 1, 1).is_contiguous());
  EXPECT_FALSE(Tensor::zeros({3, 1}).expand_view({3, 4}).is_contiguous());
}

TEST(Tensor, ViewsShareStorage) {
  Tensor t = Tensor::from_vector({0, 1, 2, 3, 4, 5}, {2, 3});

  Tensor r = t.view_as_shape({3, 2});
  EXPECT_EQ(r.storage(), t.storage());
  r.f32()[5] = 50;
  EXPECT_EQ(t.to_vector()[5], 50);
  t.f32()[5] = 5;

  Tensor tr = t.transpose_view(0, 1);
  EXPECT_EQ(tr.storage(), t.storage());
  EXPECT_EQ(tr.shape(), (Shape{3, 2}));
  EXPECT_EQ(tr.strides(), (Shape{1, 3}));
  EXPECT_EQ(tr.to_vector(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  EXPECT_EQ(t.transpose_view(-1, -2).to_vector(), tr.to_vector());

  Tensor n = t.narrow_view(1, 1, 2);
  EXPECT_EQ(n.storage(), t.storage());
  EXPECT_EQ(n.offset(), 1);
  EXPECT_EQ(n.to_vector(), (std::vector<float>{1, 2, 4, 5}));
  n.f32()[0] = 10;  // element (0, 1) of t
  EXPECT_EQ(t.to_vector()[1], 10);
  t.f32()[1] = 1;
  Tensor row = t.narrow_view(0, 1, 1);
  EXPECT_EQ(row.offset(), 3);
  EXPECT_EQ(row.to_vector(), (std::vector<float>{3, 4, 5}));

  Tensor col = Tensor::from_vector({1, 2, 3}, {3, 1});
  Tensor ex = col.expand_view({2, 3, 4});
  EXPECT_EQ(ex.storage(), col.storage());
  EXPECT_EQ(ex.strides(), (Shape{0, 1, 0}));
  std::vector<float> want;
  for (int b = 0; b < 2; ++b)
    for (int i = 1; i <= 3; ++i)
      for (int j = 0; j < 4; ++j) want.push_back(static_cast<float>(i));
  EXPECT_EQ(ex.to_vector(), want);
}

TEST(Tensor, ViewErrors) {
  Tensor t = Tensor::zeros({2, 3});
  EXPECT_TRUE(throws_error([&] { t.view_as_shape({4}); }, "cannot reshape"));
  EXPECT_TRUE(throws_error([&] { t.transpose_view(0, 1).view_as_shape({6}); }, "contiguous"));
  EXPECT_TRUE(throws_error([&] { t.transpose_view(0, 2); }, "transpose"));
  EXPECT_TRUE(throws_error([&] { t.narrow_view(1, 2, 2); }, "outside"));
  EXPECT_TRUE(throws_error([&] { t.narrow_view(2, 0, 1); }, "dimension"));
  EXPECT_TRUE(throws_error([&] { t.expand_view({2, 4}); }, "cannot expand"));
  EXPECT_TRUE(throws_error([&] { t.expand_view({3}); }, "cannot expand"));
  EXPECT_TRUE(throws_error([&] { t.transpose_view(0, 1).fill_(1); }, "contiguous"));
}

TEST(Tensor, CopyAcrossStrides) {
  Tensor src = Tensor::from_vector({0, 1, 2, 3, 4, 5}, {2, 3});
  // strided source into packed destination
  Tensor dst = Tensor::zeros({3, 2});
  dst.copy_(src.transpose_view(0, 1));
  EXPECT_EQ(dst.to_vector(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  // packed source into a strided destination (a column block of a larger tensor)
  Tensor big = Tensor::zeros({2, 5});
  big.narrow_view(1, 1, 3).copy_(src);
  EXPECT_EQ(big.to_vector(), (std::vector<float>{0, 0, 1, 2, 0, 0, 3, 4, 5, 0}));
  // strided into strided
  Tensor big2 = Tensor::zeros({3, 4});
  big2.narrow_view(1, 2, 2).copy_(src.transpose_view(0, 1));
  EXPECT_EQ(big2.to_vector(), (std::vector<float>{0, 0, 0, 3, 0, 0, 1, 4, 0, 0, 2, 5}));
  // broadcast (stride 0) source
  Tensor d3 = Tensor::zeros({2, 3});
  d3.copy_(Tensor::from_vector({7, 8, 9}, {3}).expand_view({2, 3}));
  EXPECT_EQ(d3.to_vector(), (std::vector<float>{7, 8, 9, 7, 8, 9}));
  // int64
  Tensor i = Tensor::zeros({2}, DType::I64);
  i.copy_(Tensor::from_vector_i64({5, 6}, {2}));
  EXPECT_EQ(i.to_vector_i64(), (std::vector<int64_t>{5, 6}));

  EXPECT_TRUE(throws_error([&] { dst.copy_(src); }, "shape"));
  EXPECT_TRUE(throws_error([&] { i.copy_(Tensor::zeros({2})); }, "dtype"));
}

// Copies into a contiguous destination go row by row: runs, broadcast rows, strided rows, an
// offset, several outer dims, both dtypes; checked element by element against the indexing.
TEST(Tensor, CopyIntoContiguousRowByRow) {
  std::vector<float> v(4 * 5 * 6);
  for (size_t k = 0; k < v.size(); ++k) v[k] = static_cast<float>(k);
  const Tensor base = Tensor::from_vector(v, {4, 5, 6});
  // [3, 5, 4] after narrowing dims 0 and 2 (an offset) and a transpose of dims 0 and 1
  const Tensor view = base.narrow_view(0, 1, 3).narrow_view(2, 1, 4);
  for (const Tensor& src : {view, view.transpose_view(0, 1), view.transpose_view(1, 2)}) {
    Tensor dst = Tensor::empty(src.shape());
    dst.copy_(src);
    const std::vector<float> got = dst.to_vector();
    int64_t k = 0;
    for (int64_t a = 0; a < src.size(0); ++a)
      for (int64_t b = 0; b < src.size(1); ++b)
        for (int64_t c = 0; c < src.size(2); ++c, ++k)
          ASSERT_EQ(got[k], v[src.offset() + a * src.strides()[0] + b * src.strides()[1] + c * src.strides()[2]]);
  }
  // broadcast inner and outer dims, as a gradient expanded from [N, C, 1, 1]
  const Tensor g = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3, 1, 1});
  const Tensor wide = g.expand_view({2, 3, 2, 4}).contiguous();
  std::vector<float> want;
  for (float x : g.to_vector()) want.insert(want.end(), 8, x);
  EXPECT_EQ(wide.to_vector(), want);
  const Tensor ids = Tensor::from_vector_i64({7, 8, 9}, {3, 1}).expand_view({3, 2}).transpose_view(0, 1).contiguous();
  EXPECT_EQ(ids.to_vector_i64(), (std::vector<int64_t>{7, 8, 9, 7, 8, 9}));
}

TEST(Tensor, ContiguousCloneDetach) {
  Tensor t = Tensor::from_vector({0, 1, 2, 3, 4, 5}, {2, 3});
  EXPECT_TRUE(t.contiguous().same(t));
  Tensor tr = t.transpose_view(0, 1);
  Tensor c = tr.contiguous();
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_NE(c.storage(), t.storage());
  EXPECT_EQ(c.shape(), (Shape{3, 2}));
  EXPECT_EQ(c.to_vector(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  // a narrow view with an offset packs only its elements
  Tensor nc = t.narrow_view(1, 1, 2).contiguous();
  EXPECT_EQ(nc.offset(), 0);
  EXPECT_EQ(nc.to_vector(), (std::vector<float>{1, 2, 4, 5}));

  Tensor cl = t.clone();
  EXPECT_NE(cl.storage(), t.storage());
  cl.f32()[0] = 100;
  EXPECT_EQ(t.to_vector()[0], 0);

  Tensor x = Tensor::ones({2}).set_requires_grad(true);
  Tensor y = mul(x, x);
  Tensor d = y.detach();
  EXPECT_EQ(d.storage(), y.storage());
  EXPECT_FALSE(d.requires_grad());
  EXPECT_TRUE(d.is_leaf());
  EXPECT_TRUE(y.requires_grad());
  EXPECT_FALSE(y.clone().requires_grad());
}

TEST(Tensor, DataAccess) {
  Tensor t = Tensor::from_vector({1, 2, 3, 4}, {2, 2});
  EXPECT_EQ(t.narrow_view(0, 1, 1).narrow_view(1, 1, 1).item(), 4.0f);
  EXPECT_EQ(Tensor::from_vector_i64({9}, {1, 1}).item(), 9.0f);
  EXPECT_TRUE(throws_error([&] { t.item(); }, "one-element"));
  EXPECT_TRUE(throws_error([&] { t.i64(); }, "int64"));
  EXPECT_TRUE(throws_error([] { Tensor::arange_i64(3).f32(); }, "float32"));
  EXPECT_TRUE(throws_error([] { Tensor::arange_i64(3).to_vector(); }, "float32"));
  EXPECT_TRUE(throws_error([&] { t.to_vector_i64(); }, "int64"));
  Tensor it = Tensor::from_vector_i64({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(it.transpose_view(0, 1).to_vector_i64(), (std::vector<int64_t>{1, 4, 2, 5, 3, 6}));
  Tensor f = Tensor::zeros({2, 2});
  f.fill_(3.5f);
  EXPECT_EQ(f.to_vector(), (std::vector<float>{3.5f, 3.5f, 3.5f, 3.5f}));
  // 64-byte aligned storage
  EXPECT_EQ(reinterpret_cast<uintptr_t>(Tensor::empty({3}).storage()->data()) % 64, 0u);
}

TEST(Tensor, Devices) {
  EXPECT_EQ(parse_device("cpu"), Device::cpu());
  EXPECT_EQ(parse_device("cuda"), Device::cuda(0));
  EXPECT_EQ(parse_device("cuda:2"), Device::cuda(2));
  EXPECT_TRUE(throws_error([] { parse_device("gpu"); }, "gpu"));
  EXPECT_TRUE(throws_error([] { parse_device("cuda:x"); }, "cuda:x"));
  Tensor t = Tensor::zeros({2});
  EXPECT_TRUE(t.to(Device::cpu()).same(t));
}

TEST(Tensor, UndefinedTensorErrors) {
  Tensor u;
  EXPECT_FALSE(u.defined());
  EXPECT_TRUE(throws_error([&] { u.shape(); }, "undefined"));
  EXPECT_TRUE(throws_error([&] { u.numel(); }, "undefined"));
  EXPECT_TRUE(throws_error([&] { u.f32(); }, "undefined"));
  EXPECT_TRUE(throws_error([&] { u.item(); }, "undefined"));
  EXPECT_TRUE(throws_error([&] { u.contiguous(); }, "undefined"));
  EXPECT_TRUE(throws_error([&] { u.requires_grad(); }, "undefined"));
  EXPECT_TRUE(throws_error([&] { u.backward(); }, "undefined"));
  EXPECT_TRUE(throws_error([&] { add(u, Tensor::ones({1})); }, "undefined"));
  EXPECT_TRUE(throws_error([&] { relu(u); }, "defined"));
}

TEST(Tensor, UndefinedDetach) {
  // detach() of an undefined tensor is an Error, not a null dereference.
  EXPECT_TRUE(throws_error([] { Tensor().detach(); }, "undefined"));
}

TEST(Tensor, RequiresGrad) {
  Tensor t = Tensor::zeros({2});
  EXPECT_FALSE(t.requires_grad());
  t.set_requires_grad(true);
  EXPECT_TRUE(t.requires_grad());
  EXPECT_TRUE(t.is_leaf());
  EXPECT_FALSE(t.grad().defined());
  EXPECT_TRUE(throws_error([] { Tensor::arange_i64(2).set_requires_grad(true); }, "float32"));
  Tensor::arange_i64(2).set_requires_grad(false);  // allowed
  t.set_grad(Tensor::ones({2}));
  EXPECT_TRUE(t.grad().defined());
  t.zero_grad();
  EXPECT_FALSE(t.grad().defined());
}

}  // namespace
}  // namespace signet
