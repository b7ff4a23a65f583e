#include <gtest/gtest.h>

#include "engine/ops.h"
#include "tests/engine/gradcheck.h"

using namespace signet;
using namespace signet::test;

TEST(Embedding, LooksUpRowsForAnyIdShape) {
  const Tensor w = Tensor::from_vector({0, 1, 10, 11, 20, 21, 30, 31}, {4, 2});
  const Tensor ids = Tensor::from_vector_i64({3, 0, 3, 1, 2, 2}, {2, 3});
  const Tensor out = embedding(w, ids);
  EXPECT_EQ(out.shape(), (Shape{2, 3, 2}));
  EXPECT_EQ(out.to_vector(), (std::vector<float>{30, 31, 0, 1, 30, 31, 10, 11, 20, 21, 20, 21}));
  // A 0-d id gives one row [D]; a non-contiguous id tensor is read in its logical order.
  EXPECT_EQ(embedding(w, Tensor::from_vector_i64({2}, {})).to_vector(), (std::vector<float>{20, 21}));
  EXPECT_EQ(embedding(w, ids.transpose_view(0, 1)).to_vector(),
            (std::vector<float>{30, 31, 10, 11, 0, 1, 20, 21, 30, 31, 20, 21}));
}

TEST(Embedding, OutOfRangeIdIsAnErrorNamingItAndTheTableSize) {
  const Tensor w = Tensor::zeros({5, 3});
  EXPECT_TRUE(throws_error([&] { embedding(w, Tensor::from_vector_i64({1, 7}, {2})); }, "id 7"));
  EXPECT_TRUE(throws_error([&] { embedding(w, Tensor::from_vector_i64({1, 7}, {2})); }, "table of 5 rows"));
  EXPECT_TRUE(throws_error([&] { embedding(w, Tensor::from_vector_i64({-1}, {1})); }, "id -1"));
  EXPECT_TRUE(throws_error([&] { embedding(w, Tensor::zeros({2})); }, "int64"));
  EXPECT_TRUE(throws_error([&] { embedding(Tensor::zeros({5}), Tensor::from_vector_i64({1}, {1})); }, "2-d"));
}

TEST(Embedding, GradientAddsRowsOfRepeatedIds) {
  Tensor w = Tensor::zeros({4, 2});
  w.set_requires_grad(true);
  const Tensor ids = Tensor::from_vector_i64({1, 3, 1, 1}, {2, 2});
  Tensor g = Tensor::from_vector({1, 2, 3, 4, 5, 6, 7, 8}, {2, 2, 2});
  embedding(w, ids).backward(g);
  EXPECT_EQ(w.grad().to_vector(), (std::vector<float>{0, 0, 1 + 5 + 7, 2 + 6 + 8, 0, 0, 3, 4}));
}

TEST(Embedding, Gradcheck) {
  Rng rng(7);
  const Tensor w = uniform_tensor({6, 3}, rng);
  const Tensor ids = Tensor::from_vector_i64({0, 5, 2, 5, 5, 1, 0, 3}, {2, 4});
  auto f = [](const std::vector<Tensor>& v) { return embedding(v[0], v[1]); };
  EXPECT_TRUE(gradcheck(f, {w, ids}));
  // The gradient is linear in the output gradient: the second derivative is zero, and the
  // double-backward path (create_graph) must still work.
  auto sq = [](const std::vector<Tensor>& v) { const Tensor e = embedding(v[0], v[1]); return e * e; };
  EXPECT_TRUE(gradgradcheck(sq, {w, ids}));
}
