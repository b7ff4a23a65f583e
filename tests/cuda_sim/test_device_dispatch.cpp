// Device dispatch, end to end without a GPU: on the emulated cuda:0 (host memory, our kernels on
// the SIMT harness), ops with a CUDA path allocate their outputs there and launch the device's
// kernels, and give what the CPU gives; ops without one refuse the tensor, naming the op.
#include <gtest/gtest.h>

#include "engine/ops.h"
#include "engine/ops/dispatch.h"
#include "engine/rng.h"
#include "layers/optim.h"
#include "tests/cuda_sim/kernel_test_util.h"
#include "tests/cuda_sim/sim_device.h"
#include "tests/engine/gradcheck.h"

namespace signet::testing {
namespace {

const Device kGpu = Device::cuda(0);

Tensor random_tensor(const Shape& shape, uint64_t seed, float lo = -2.0f, float hi = 2.0f) {
  Rng rng(seed);
  std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
  for (float& x : v) x = rng.uniform(lo, hi);
  return Tensor::from_vector(v, shape);
}

// Runs f on the CPU inputs and on their copies on the emulated GPU; the results must agree.
void expect_same_on_both(const std::string& what, const std::function<Tensor(const std::vector<Tensor>&)>& f,
                         const std::vector<Tensor>& cpu_inputs, float tol = 1e-6f) {
  std::vector<Tensor> gpu_inputs;
  for (const Tensor& t : cpu_inputs) gpu_inputs.push_back(t.to(kGpu));
  const Tensor want = f(cpu_inputs), got = f(gpu_inputs);
  EXPECT_EQ(got.device(), kGpu) << what << ": the output is not on the inputs' device";
  EXPECT_EQ(got.shape(), want.shape()) << what;
  EXPECT_TRUE(close_to(got.to(Device::cpu()).to_vector(), want.to_vector(), tol, tol)) << what;
}

TEST(DeviceDispatch, ElementwiseOpsRunOnTheEmulatedGpuAndMatchTheCpu) {
  EmulatedGpu gpu;
  const Tensor x = random_tensor({7, 33}, 1), y = random_tensor({7, 33}, 2, 0.5f, 2.0f);
  const Tensor row = random_tensor({33}, 3, 0.5f, 2.0f), col = random_tensor({7, 1}, 4), pos = random_tensor({5}, 5, 0.1f, 3.0f);
  using V = std::vector<Tensor>;
  expect_same_on_both("relu", [](const V& v) { return relu(v[0]); }, {x});
  expect_same_on_both("sigmoid", [](const V& v) { return sigmoid(v[0]); }, {x});
  expect_same_on_both("tanh", [](const V& v) { return tanh(v[0]); }, {x});
  expect_same_on_both("exp", [](const V& v) { return exp(v[0]); }, {x}, 1e-5f);
  expect_same_on_both("log", [](const V& v) { return log(v[0]); }, {pos});
  expect_same_on_both("relu_grad", [](const V& v) { return relu_grad(v[0], v[1]); }, {y, x});
  expect_same_on_both("add", [](const V& v) { return v[0] + v[1]; }, {x, y});
  expect_same_on_both("sub row", [](const V& v) { return v[0] - v[1]; }, {x, row});
  expect_same_on_both("mul column", [](const V& v) { return v[0] * v[1]; }, {x, col});
  expect_same_on_both("div both ways", [](const V& v) { return v[1] / v[0]; }, {row, col});
  expect_same_on_both("scalars", [](const V& v) { return rsub_scalar(0.5f, v[0] * 3.0f); }, {x});
  expect_same_on_both("chain", [](const V& v) { return tanh(relu(v[0]) * v[1] + v[0]); }, {x, y});
}

TEST(DeviceDispatch, SumsAndSoftmaxRunOnTheEmulatedGpuAndMatchTheCpu) {
  EmulatedGpu gpu;
  const Tensor x = random_tensor({6, 7, 33}, 1, -5.0f, 5.0f);
  using V = std::vector<Tensor>;
  expect_same_on_both("sum all", [](const V& v) { return sum(v[0]); }, {x}, 1e-4f);
  expect_same_on_both("sum dim 1", [](const V& v) { return sum(v[0], {1}); }, {x}, 1e-5f);
  expect_same_on_both("mean dims 0, 2 kept", [](const V& v) { return mean(v[0], {0, 2}, true); }, {x}, 1e-5f);
  expect_same_on_both("sum of a 0-d", [](const V& v) { return sum(sum(v[0])); }, {x}, 1e-4f);
  expect_same_on_both("sum_to", [](const V& v) { return sum_to(v[0], {7, 1}); }, {x}, 1e-4f);
  expect_same_on_both("softmax last", [](const V& v) { return softmax(v[0]); }, {x});
  expect_same_on_both("log_softmax middle", [](const V& v) { return log_softmax(v[0], 1); }, {x}, 1e-5f);
}

TEST(DeviceDispatch, GradientsThroughSoftmaxAndBroadcastsStayOnTheDevice) {
  EmulatedGpu gpu;
  const Tensor x = random_tensor({4, 10}, 1), b = random_tensor({10}, 2), g = random_tensor({4, 10}, 3);
  auto grads = [&](const Device& d) {
    Tensor xd = x.to(d), bd = b.to(d);
    xd.set_requires_grad(true);
    bd.set_requires_grad(true);
    log_softmax(xd * bd + bd, 1).backward(g.to(d));
    EXPECT_EQ(bd.grad().device(), d);
    return std::make_pair(xd.grad().to(Device::cpu()).to_vector(), bd.grad().to(Device::cpu()).to_vector());
  };
  const auto want = grads(Device::cpu()), got = grads(kGpu);
  EXPECT_TRUE(close_to(got.first, want.first, 1e-5f, 1e-5f));
  EXPECT_TRUE(close_to(got.second, want.second, 1e-5f, 1e-5f));
}

TEST(DeviceDispatch, BackwardThroughElementwiseOpsStaysOnTheDevice) {
  EmulatedGpu gpu;
  const Tensor x = random_tensor({5, 9}, 1), y = random_tensor({5, 9}, 2), g = random_tensor({5, 9}, 3);
  auto grads = [&](const Device& d) {
    Tensor xd = x.to(d), yd = y.to(d);
    xd.set_requires_grad(true);
    yd.set_requires_grad(true);
    const Tensor out = tanh(relu(xd * yd + xd) - sigmoid(yd) * 2.0f);
    out.backward(g.to(d));  // a seed of the output's shape, on its device
    EXPECT_EQ(xd.grad().device(), d);
    return std::make_pair(xd.grad().to(Device::cpu()).to_vector(), yd.grad().to(Device::cpu()).to_vector());
  };
  const auto want = grads(Device::cpu()), got = grads(kGpu);
  EXPECT_TRUE(close_to(got.first, want.first, 1e-6f, 1e-5f));
  EXPECT_TRUE(close_to(got.second, want.second, 1e-6f, 1e-5f));
}

TEST(DeviceDispatch, CrossEntropyLossAndGradientOnTheDeviceAndItsBadLabels) {
  EmulatedGpu gpu;
  const Tensor logits = random_tensor({37, 10}, 1, -6.0f, 6.0f);
  std::vector<int64_t> labels(37);
  for (int64_t i = 0; i < 37; ++i) labels[i] = (i * 7) % 10;
  const Tensor target = Tensor::from_vector_i64(labels, {37});
  auto run = [&](const Device& d) {
    Tensor x = d.is_cpu() ? logits.clone() : logits.to(d);
    x.set_requires_grad(true);
    const Tensor loss = cross_entropy(x, target.to(d));
    EXPECT_EQ(loss.device(), d);
    loss.backward(Tensor::ones({}).to(d));
    return std::make_pair(loss.to(Device::cpu()).item(), x.grad().to(Device::cpu()).to_vector());
  };
  const auto want = run(Device::cpu()), got = run(kGpu);
  EXPECT_NEAR(got.first, want.first, 1e-5);
  EXPECT_TRUE(close_to(got.second, want.second, 1e-7f, 1e-5f));
  labels[5] = 10;
  labels[20] = -1;
  const std::string cpu_error = [&] {
    try {
      cross_entropy(logits, Tensor::from_vector_i64(labels, {37}));
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  }();
  EXPECT_EQ(cpu_error, "cross_entropy: label 10 at position 5 is outside [0, 10)");
  EXPECT_TRUE(test::throws_error(
      [&] { cross_entropy(logits.to(kGpu), Tensor::from_vector_i64(labels, {37}).to(kGpu)); }, cpu_error));
}

// A few steps of each optimizer on a parameter on the emulated GPU and on the CPU, from the same
// start and the same gradients (made on the device by the ops of a small loss).
TEST(DeviceDispatch, OptimizerStepsRunOnTheParametersDevice) {
  EmulatedGpu gpu;
  const Tensor w0 = random_tensor({3, 17}, 1), target = random_tensor({3, 17}, 2);
  struct Case { std::string name; std::function<std::unique_ptr<Optimizer>(Tensor&)> make; };
  const std::vector<Case> cases = {
      {"sgd", [](Tensor& w) { return std::make_unique<SGD>(NamedTensorList{{"w", w}}, SgdOptions{0.1f}); }},
      {"sgd momentum nesterov", [](Tensor& w) {
         return std::make_unique<SGD>(NamedTensorList{{"w", w}}, SgdOptions{0.1f, 0.9f, 0.0f, 5e-4f, true}); }},
      {"adamw", [](Tensor& w) {
         return std::make_unique<Adam>(NamedTensorList{{"w", w}}, AdamOptions{0.05f, 0.9f, 0.999f, 1e-8f, 0.01f, true}); }}};
  for (const Case& c : cases) {
    auto train = [&](const Device& d) {
      Tensor w = d.is_cpu() ? w0.clone() : w0.to(d);  // to() the same device is w0 itself
      w.set_requires_grad(true);
      const Tensor t = target.to(d);
      auto opt = c.make(w);
      for (int step = 0; step < 4; ++step) {
        opt->zero_grad();
        const Tensor diff = w - t;
        (sum(diff * diff) * 0.5f).backward(Tensor::ones({}).to(d));  // gradient w - t
        opt->step();
      }
      EXPECT_EQ(w.device(), d);
      return w.to(Device::cpu()).to_vector();
    };
    EXPECT_TRUE(close_to(train(kGpu), train(Device::cpu()), 1e-6f, 1e-5f)) << c.name;
  }
}

TEST(DeviceDispatch, MatrixProductsRunThroughTheDevicesGemm) {
  EmulatedGpu gpu;
  const Tensor a = random_tensor({7, 13}, 1), b = random_tensor({13, 5}, 2), w = random_tensor({5, 13}, 3);
  const Tensor bias = random_tensor({5}, 4), at = random_tensor({13, 7}, 5), empty_a = Tensor::zeros({7, 0});
  using V = std::vector<Tensor>;
  expect_same_on_both("matmul", [](const V& v) { return matmul(v[0], v[1]); }, {a, b}, 1e-5f);
  // Transpose views reach the GEMM as flags, on the device as on the CPU.
  expect_same_on_both("matmul a^T", [](const V& v) { return matmul(v[0].transpose_view(0, 1), v[1]); }, {at, b}, 1e-5f);
  expect_same_on_both("matmul b^T", [](const V& v) { return matmul(v[0], v[1].transpose_view(0, 1)); }, {a, w}, 1e-5f);
  expect_same_on_both("linear", [](const V& v) { return linear(v[0], v[1], v[2]); }, {a, w, bias}, 1e-5f);
  expect_same_on_both("linear, no bias", [](const V& v) { return linear(v[0], v[1]); }, {a, w}, 1e-5f);
  expect_same_on_both("matmul, K = 0", [](const V& v) { return matmul(v[0], v[1]); }, {empty_a, Tensor::zeros({0, 5})});
  expect_same_on_both("zeros and ones", [](const V& v) { return v[0] * 0.0f + Tensor::ones({7, 13}, v[0].device()); }, {a});
}

// Two layers of an MLP, three SGD steps on the emulated GPU and on the CPU from the same start:
// the forward, the default backward seed, every gradient and the updates stay on the device and
// give the CPU's numbers.
TEST(DeviceDispatch, AnMlpTrainsOnTheDeviceAsOnTheCpu) {
  EmulatedGpu gpu;
  const Tensor x = random_tensor({16, 12}, 1), w1 = random_tensor({20, 12}, 2, -0.3f, 0.3f);
  const Tensor b1 = random_tensor({20}, 3, -0.1f, 0.1f), w2 = random_tensor({4, 20}, 4, -0.3f, 0.3f);
  const Tensor b2 = random_tensor({4}, 5, -0.1f, 0.1f);
  std::vector<int64_t> y(16);
  for (int64_t i = 0; i < 16; ++i) y[i] = i % 4;
  const Tensor labels = Tensor::from_vector_i64(y, {16});
  auto train = [&](const Device& d) {
    std::vector<Tensor> p;
    for (const Tensor& t : {w1, b1, w2, b2}) p.push_back((d.is_cpu() ? t.clone() : t.to(d)).set_requires_grad(true));
    SGD opt(NamedTensorList{{"w1", p[0]}, {"b1", p[1]}, {"w2", p[2]}, {"b2", p[3]}}, SgdOptions{0.5f, 0.9f});
    const Tensor xd = x.to(d), yd = labels.to(d);
    std::vector<float> losses;
    for (int step = 0; step < 3; ++step) {
      opt.zero_grad();
      const Tensor loss = cross_entropy(linear(relu(linear(xd, p[0], p[1])), p[2], p[3]), yd);
      loss.backward();
      EXPECT_EQ(p[0].grad().device(), d);
      losses.push_back(loss.item());
      opt.step();
    }
    std::vector<float> out = losses;
    for (const Tensor& t : p) {
      const std::vector<float> v = t.to_vector();
      out.insert(out.end(), v.begin(), v.end());
    }
    return out;
  };
  const std::vector<float> want = train(Device::cpu()), got = train(kGpu);
  EXPECT_LT(want[2], want[0]);  // it learns
  EXPECT_TRUE(close_to(got, want, 1e-5f, 1e-4f));
}

TEST(DeviceDispatch, ConvolutionsAndMaxPoolingRunOnTheDevice) {
  EmulatedGpu gpu;
  const Tensor x = random_tensor({2, 3, 9, 7}, 1), w = random_tensor({4, 3, 3, 3}, 2), b = random_tensor({4}, 3);
  for (const auto& [stride, pad] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {2, 0}, {2, 1}}) {
    auto run = [&, stride = stride, pad = pad](const Device& d) {
      Tensor xd = d.is_cpu() ? x.clone() : x.to(d), wd = d.is_cpu() ? w.clone() : w.to(d);
      Tensor bd = d.is_cpu() ? b.clone() : b.to(d);
      for (Tensor* t : {&xd, &wd, &bd}) t->set_requires_grad(true);
      const Tensor y = conv2d(xd, wd, bd, stride, pad);
      EXPECT_EQ(y.device(), d);
      const auto [pooled, idx] = max_pool2d_with_indices(relu(y), 2, 2, 0);
      EXPECT_EQ(idx.device(), d);
      (pooled * pooled).backward(Tensor::ones(pooled.shape(), d));
      std::vector<float> out = pooled.to_vector();
      for (const Tensor& t : {xd.grad(), wd.grad(), bd.grad()}) {
        const std::vector<float> v = t.to_vector();
        out.insert(out.end(), v.begin(), v.end());
      }
      return out;
    };
    EXPECT_TRUE(close_to(run(kGpu), run(Device::cpu()), 1e-4f, 1e-4f)) << "stride " << stride << " pad " << pad;
  }
  // The second derivative through max pooling gathers at the saved positions on the device too.
  auto second = [&](const Device& d) {
    Tensor xd = d.is_cpu() ? x.clone() : x.to(d);
    xd.set_requires_grad(true);
    const Tensor y = max_pool2d(xd, 3, 2, 1);
    const Tensor g = grad(sum(y * y), {xd}, Tensor(), true)[0];
    return grad(sum(g * g), {xd})[0].to_vector();
  };
  EXPECT_TRUE(close_to(second(kGpu), second(Device::cpu()), 1e-5f, 1e-5f));
}

// Batch norm in training (statistics from the batch, running statistics updated in place) and
// in evaluation, its gradients by the fused kernels and, with create_graph, composed from ops;
// global average pooling.
TEST(DeviceDispatch, BatchNormAndGlobalAveragePoolingOnTheDevice) {
  EmulatedGpu gpu;
  const Tensor x = random_tensor({5, 3, 4, 6}, 1, -3.0f, 3.0f), w = random_tensor({3}, 2, 0.5f, 2.0f);
  const Tensor b = random_tensor({3}, 3), rm0 = random_tensor({3}, 4), rv0 = random_tensor({3}, 5, 0.5f, 2.0f);
  for (bool training : {true, false}) {
    auto run = [&](const Device& d) {
      Tensor xd = d.is_cpu() ? x.clone() : x.to(d), wd = d.is_cpu() ? w.clone() : w.to(d);
      Tensor bd = d.is_cpu() ? b.clone() : b.to(d), rm = d.is_cpu() ? rm0.clone() : rm0.to(d);
      Tensor rv = d.is_cpu() ? rv0.clone() : rv0.to(d);
      for (Tensor* t : {&xd, &wd, &bd}) t->set_requires_grad(true);
      const Tensor y = global_avg_pool(relu(batch_norm(xd, wd, bd, rm, rv, training, 0.1, 1e-5)));
      EXPECT_EQ(y.device(), d);
      (y * y).backward(Tensor::ones(y.shape(), d));
      std::vector<float> out = y.to_vector();
      for (const Tensor& t : {xd.grad(), wd.grad(), bd.grad(), rm, rv}) {
        const std::vector<float> v = t.to_vector();
        out.insert(out.end(), v.begin(), v.end());
      }
      // The second derivative (create_graph: the composed backward).
      Tensor x2 = d.is_cpu() ? x.clone() : x.to(d);
      x2.set_requires_grad(true);
      const Tensor g = grad(sum(batch_norm(x2, wd, bd, rm, rv, training) * xd.detach()), {x2}, Tensor(), true)[0];
      const std::vector<float> h = grad(sum(g * g), {x2})[0].to_vector();
      out.insert(out.end(), h.begin(), h.end());
      return out;
    };
    EXPECT_TRUE(close_to(run(kGpu), run(Device::cpu()), 1e-4f, 1e-4f)) << (training ? "training" : "eval");
  }
}

TEST(DeviceDispatch, BceEmbeddingAndDropoutOnTheDevice) {
  EmulatedGpu gpu;
  const Tensor x = random_tensor({37}, 1, -6.0f, 6.0f), t = random_tensor({37}, 2, 0.0f, 1.0f);
  auto bce = [&](const Device& d) {
    Tensor xd = d.is_cpu() ? x.clone() : x.to(d);
    xd.set_requires_grad(true);
    const Tensor loss = bce_with_logits(xd, t.to(d));
    EXPECT_EQ(loss.device(), d);
    loss.backward();
    std::vector<float> out = {loss.item()};
    const std::vector<float> g = xd.grad().to_vector();
    out.insert(out.end(), g.begin(), g.end());
    return out;
  };
  EXPECT_TRUE(close_to(bce(kGpu), bce(Device::cpu()), 1e-6f, 1e-5f));

  const Tensor w = random_tensor({11, 6}, 3);
  const Tensor ids = Tensor::from_vector_i64({3, 0, 10, 3, 7, 3}, {2, 3});
  auto embed = [&](const Device& d) {
    Tensor wd = d.is_cpu() ? w.clone() : w.to(d);
    wd.set_requires_grad(true);
    const Tensor out = embedding(wd, ids.to(d));
    EXPECT_EQ(out.shape(), (Shape{2, 3, 6}));
    (out * out).backward(Tensor::ones({2, 3, 6}, d));
    std::vector<float> v = out.to_vector();
    const std::vector<float> g = wd.grad().to_vector();
    v.insert(v.end(), g.begin(), g.end());
    return v;
  };
  EXPECT_TRUE(close_to(embed(kGpu), embed(Device::cpu()), 1e-6f, 1e-6f));
  const Tensor bad = Tensor::from_vector_i64({2, 11, 5, -1}, {4});
  const std::string cpu_error = [&] {
    try {
      embedding(w, bad);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  }();
  EXPECT_NE(cpu_error.find("id 11 (at flat position 1"), std::string::npos) << cpu_error;
  EXPECT_TRUE(test::throws_error([&] { embedding(w.to(kGpu), bad.to(kGpu)); }, cpu_error));

  // Dropout's device mask: every element kept at 1 / keep or dropped, about p of them dropped,
  // and the gradient is the same mask.
  Rng rng(9);
  Tensor ones = Tensor::ones({4000}, kGpu);
  ones.set_requires_grad(true);
  const Tensor y = dropout(ones, 0.25f, true, rng);
  EXPECT_EQ(y.device(), kGpu);
  y.backward(Tensor::ones({4000}, kGpu));
  const std::vector<float> v = y.to_vector(), g = ones.grad().to_vector();
  int64_t dropped = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    ASSERT_TRUE(v[i] == 0.0f || std::fabs(v[i] - 1.0f / 0.75f) < 1e-6f) << v[i];
    ASSERT_EQ(g[i], v[i]);
    dropped += v[i] == 0.0f;
  }
  EXPECT_NEAR(static_cast<double>(dropped) / 4000, 0.25, 0.03);
  EXPECT_EQ(dropout(ones, 0.25f, false, rng).to_vector(), std::vector<float>(4000, 1.0f));  // eval: identity
}

TEST(DeviceDispatch, OutputsComeFromTheDevicesCachingAllocator) {
  EmulatedGpu gpu;
  const Tensor x = random_tensor({256}, 1).to(kGpu);
  for (int step = 0; step < 3; ++step) Tensor y = relu(x) + x;
  const cuda::DeviceAllocatorStats st = cuda::device_allocator_stats(kGpu);
  EXPECT_GE(st.allocations, 7u);
  EXPECT_LE(st.device_allocs, 3u) << "later steps are served from the cache";
}

TEST(DeviceDispatch, OpsWithoutACudaPathAndMixedDevicesAreRefusedByName) {
  EmulatedGpu gpu;
  const Tensor x = random_tensor({4, 5}, 1), g = x.to(kGpu);
  // Every op of engine/ops has a device path now (the op table runs them all); an op declared
  // CPU-only at its dispatch point is refused with its name.
  EXPECT_TRUE(test::throws_error([&] { backend_for("a_cpu_only_op", {g}); },
                                 "a_cpu_only_op: no kernel for device cuda:0 yet"));
  EXPECT_TRUE(test::throws_error([&] { add(g, x); }, "different devices"));
  const Tensor x4 = random_tensor({2, 3, 4, 5}, 2).to(kGpu);
  EXPECT_TRUE(test::throws_error(
      [&] { batch_norm(x4.transpose_view(2, 3), Tensor(), Tensor(), Tensor(), Tensor(), true); }, "non-contiguous"));
  // A strided input is copied on the device by ops that can (and by contiguous()).
  EXPECT_TRUE(close_to(softmax(g.transpose_view(0, 1), 1).to_vector(), softmax(x.transpose_view(0, 1), 1).to_vector(),
                       1e-7f, 1e-6f));
  EXPECT_EQ(relu(g.transpose_view(0, 1)).to_vector(), relu(x.transpose_view(0, 1)).to_vector());
  EXPECT_EQ(g.transpose_view(0, 1).contiguous().to_vector(), x.transpose_view(0, 1).contiguous().to_vector());
  EXPECT_TRUE(test::throws_error([&] { g.f32(); }, "host code asked for the data of a tensor on cuda:0"));
  {
    CurrentOp inside("my_op");  // what an op's dispatch point (or its backward) sets
    EXPECT_TRUE(test::throws_error([&] { g.i64(); }, "expected an int64 tensor"));
    EXPECT_TRUE(test::throws_error([&] { g.f32(); }, "my_op: host code asked for the data of a tensor on cuda:0"));
  }
  EXPECT_EQ(current_op(), nullptr);
}

}  // namespace
}  // namespace signet::testing
