// add_relu: relu(a + b) in one op, against the two ops (values, gradients with and without a
// graph), fast kernel against the reference, the broadcast fallback, gradient checks, and the
// layer helper's tap.
#include <gtest/gtest.h>

#include "engine/ops.h"
#include "layers/layers.h"
#include "tests/engine/gradcheck.h"

namespace signet {
namespace {

using test::all_close;

TEST(OpsAddRelu, MatchesReluOfAdd) {
  Rng rng(71);
  for (int64_t n : {int64_t{7}, int64_t{100000}}) {  // below and above the parallel grain
    const Tensor a = test::uniform_tensor({n}, rng, -1, 1), b = test::uniform_tensor({n}, rng, -1, 1);
    Tensor r = Tensor::empty({n}), f = Tensor::empty({n});
    cpu::add_relu_ref(a.f32(), b.f32(), r.f32(), n);
    cpu::add_relu_fast(a.f32(), b.f32(), f.f32(), n);
    EXPECT_TRUE(all_close(f, r, 0, 0, "fast"));
    EXPECT_TRUE(all_close(r, relu(add(a, b)), 0, 0, "reference"));
  }
  for (bool graph : {false, true}) {
    Tensor a = test::uniform_tensor({2, 3, 4, 5}, rng, -1, 1).set_requires_grad(true);
    Tensor b = test::uniform_tensor({2, 3, 4, 5}, rng, -1, 1).set_requires_grad(true);
    const Tensor R = test::uniform_tensor(a.shape(), rng);
    const Tensor y = add_relu(a, b), want = relu(add(a, b));
    EXPECT_TRUE(all_close(y, want, 0, 0, "output"));
    int64_t cut = 0;
    for (float v : y.to_vector()) cut += v == 0.0f;
    EXPECT_GT(cut, 0);
    const std::vector<Tensor> g = grad(y, {a, b}, R, graph), gw = grad(want, {a, b}, R, false);
    EXPECT_TRUE(all_close(g[0], gw[0], 0, 0, "grad a"));
    EXPECT_TRUE(all_close(g[1], gw[1], 0, 0, "grad b"));
  }
  // shapes that broadcast: the two ops
  const Tensor a = test::uniform_tensor({3, 4}, rng, -1, 1), b = test::uniform_tensor({4}, rng, -1, 1);
  EXPECT_TRUE(all_close(add_relu(a, b), relu(add(a, b)), 0, 0, "broadcast"));
}

TEST(OpsAddRelu, GradcheckAndDoubleBackward) {
  Rng rng(72);
  test::GradCheckOptions o;
  o.eps = 1e-3;
  o.atol = 3e-3;
  o.rtol = 3e-3;
  const Tensor a = test::uniform_tensor({3, 5}, rng, -1, 1), b = test::uniform_tensor({3, 5}, rng, -1, 1);
  auto f = [](const std::vector<Tensor>& in) { return mul(add_relu(in[0], in[1]), in[0]); };
  EXPECT_TRUE(test::gradcheck(f, {a, b}, o));
  EXPECT_TRUE(test::gradgradcheck(f, {a, b}, o));
}

TEST(OpsAddRelu, LayerHelperTapsTheReluOutput) {
  Rng rng(73);
  auto seq = std::make_shared<Sequential>();
  auto act = std::make_shared<ReLU>();
  seq->add("relu", act);
  seq->assign_paths();
  const Tensor a = test::uniform_tensor({4, 6}, rng, -1, 1), b = test::uniform_tensor({4, 6}, rng, -1, 1);
  Taps taps;
  taps.wanted = {"relu"};
  const Tensor y = add_then_relu(*act, a, b, &taps);
  EXPECT_TRUE(all_close(y, relu(add(a, b)), 0, 0, "output"));
  EXPECT_TRUE(all_close(taps.require("relu"), y, 0, 0, "tap"));
  EXPECT_TRUE(all_close(add_then_relu(*act, a, b, nullptr), y, 0, 0, "no taps"));
}

}  // namespace
}  // namespace signet
