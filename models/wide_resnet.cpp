// wrn-D-K: Wide ResNet (Zagoruyko & Komodakis 2016) with the module names of the common PyTorch
// implementation (see models/registry.h and tests/golden/make_wrn.py).
#include <memory>

#include "engine/ops.h"
#include "layers/conv_layers.h"
#include "layers/layers.h"
#include "models/model_util.h"

namespace signet {

namespace {

// Pre-activation basic block (BasicBlock of WideResNet-pytorch):
//   equal in/out:  out = x + conv2(drop(relu2(bn2(conv1(relu1(bn1(x)))))))
//   otherwise:     a = relu1(bn1(x));  out = convShortcut(a) + conv2(drop(relu2(bn2(conv1(a)))))
class WrnBlock : public Module {
 public:
  WrnBlock(int64_t in, int64_t out, int64_t stride, float dropout, Rng& rng) : equal_(in == out) {
    SIGNET_CHECK(equal_ ? stride == 1 : true, "WrnBlock: equal widths need stride 1");
    bn1_ = register_module("bn1", std::make_shared<BatchNorm2d>(in));
    relu1_ = register_module("relu1", std::make_shared<ReLU>());
    conv1_ = register_module("conv1", std::make_shared<Conv2d>(in, out, 3, stride, 1, false, rng));
    bn2_ = register_module("bn2", std::make_shared<BatchNorm2d>(out));
    relu2_ = register_module("relu2", std::make_shared<ReLU>());
    if (dropout > 0) drop_ = register_module("dropout", std::make_shared<Dropout>(dropout));
    conv2_ = register_module("conv2", std::make_shared<Conv2d>(out, out, 3, 1, 1, false, rng));
    if (!equal_) shortcut_ = register_module("convShortcut", std::make_shared<Conv2d>(in, out, 1, stride, 0, false, rng));
    model_util::kaiming_normal_fan_out(conv1_->weight(), rng);
    model_util::kaiming_normal_fan_out(conv2_->weight(), rng);
    if (shortcut_) model_util::kaiming_normal_fan_out(shortcut_->weight(), rng);
  }
  std::string type_name() const override { return "BasicBlock"; }

 protected:
  Tensor forward(const Tensor& x, Taps* taps) override {
    const Tensor a = batch_norm_then_relu(*bn1_, *relu1_, x, taps);
    Tensor h = batch_norm_then_relu(*bn2_, *relu2_, (*conv1_)(a, taps), taps);
    if (drop_) h = (*drop_)(h, taps);
    h = (*conv2_)(h, taps);
    return add(equal_ ? x : (*shortcut_)(a, taps), h);
  }

 private:
  bool equal_;
  std::shared_ptr<BatchNorm2d> bn1_, bn2_;
  std::shared_ptr<ReLU> relu1_, relu2_;
  std::shared_ptr<Conv2d> conv1_, conv2_, shortcut_;
  std::shared_ptr<Dropout> drop_;
};

// NetworkBlock: `layer` = n blocks, the first with the stride and the width change.
std::shared_ptr<Module> network_block(int64_t n, int64_t in, int64_t out, int64_t stride, float dropout, Rng& rng) {
  auto layer = std::make_shared<Sequential>("Sequential");
  for (int64_t i = 0; i < n; ++i)
    layer->add(std::to_string(i), std::make_shared<WrnBlock>(i == 0 ? in : out, out, i == 0 ? stride : 1, dropout, rng));
  auto block = std::make_shared<Sequential>("NetworkBlock");
  block->add("layer", layer);
  return block;
}

}  // namespace

std::shared_ptr<Module> make_wide_resnet(int64_t depth, int64_t widen, const ModelConfig& c, Rng& rng) {
  const std::string name = fmt::format("wrn-{}-{}", depth, widen);
  model_util::require_image_input(name, c, 4);
  SIGNET_CHECK(depth >= 10 && (depth - 4) % 6 == 0, "{}: depth must be 6n + 4 with n >= 1", name);
  const int64_t n = (depth - 4) / 6;
  const int64_t w[4] = {16, 16 * widen, 32 * widen, 64 * widen};
  auto net = std::make_shared<Sequential>("WideResNet");
  auto conv1 = std::make_shared<Conv2d>(c.input_shape[0], w[0], 3, 1, 1, false, rng);
  model_util::kaiming_normal_fan_out(conv1->weight(), rng);
  net->add("conv1", conv1);
  net->add("block1", network_block(n, w[0], w[1], 1, c.dropout, rng));
  net->add("block2", network_block(n, w[1], w[2], 2, c.dropout, rng));
  net->add("block3", network_block(n, w[2], w[3], 2, c.dropout, rng));
  net->add("bn1", std::make_shared<BatchNorm2d>(w[3]));
  net->add("relu", std::make_shared<ReLU>());
  net->add("pool", std::make_shared<GlobalAvgPool>());
  auto fc = std::make_shared<Linear>(w[3], c.num_classes, true, rng);
  fc->named_parameters().at(1).second.fill_(0.0f);  // the reference zeroes the fc bias
  net->add("fc", fc);
  return net;
}

}  // namespace signet
