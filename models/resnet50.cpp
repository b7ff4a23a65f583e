// resnet50: torchvision's ResNet-50 (v1.5) with its module names (see models/registry.h).
#include <memory>

#include "engine/ops.h"
#include "layers/conv_layers.h"
#include "layers/layers.h"
#include "models/model_util.h"

namespace signet {

namespace {

// torchvision.models.resnet.Bottleneck (expansion 4, stride on conv2):
//   out = relu(bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x)))))))) + identity)
//   identity = downsample(x) (conv 1x1 stride s + BN) when the shape changes, else x.
class Bottleneck : public Module {
 public:
  Bottleneck(int64_t in, int64_t planes, int64_t stride, bool downsample, Rng& rng) {
    const int64_t out = planes * 4;
    conv1_ = register_module("conv1", std::make_shared<Conv2d>(in, planes, 1, 1, 0, false, rng));
    bn1_ = register_module("bn1", std::make_shared<BatchNorm2d>(planes));
    conv2_ = register_module("conv2", std::make_shared<Conv2d>(planes, planes, 3, stride, 1, false, rng));
    bn2_ = register_module("bn2", std::make_shared<BatchNorm2d>(planes));
    conv3_ = register_module("conv3", std::make_shared<Conv2d>(planes, out, 1, 1, 0, false, rng));
    bn3_ = register_module("bn3", std::make_shared<BatchNorm2d>(out));
    relu_ = register_module("relu", std::make_shared<ReLU>());
    model_util::kaiming_normal_fan_out(conv1_->weight(), rng);
    model_util::kaiming_normal_fan_out(conv2_->weight(), rng);
    model_util::kaiming_normal_fan_out(conv3_->weight(), rng);
    if (downsample) {
      auto conv = std::make_shared<Conv2d>(in, out, 1, stride, 0, false, rng);
      model_util::kaiming_normal_fan_out(conv->weight(), rng);
      auto ds = std::make_shared<Sequential>("Sequential");
      ds->add("0", conv);
      ds->add("1", std::make_shared<BatchNorm2d>(out));
      downsample_ = register_module("downsample", ds);
    }
  }
  std::string type_name() const override { return "Bottleneck"; }

 protected:
  Tensor forward(const Tensor& x, Taps* taps) override {
    Tensor h = batch_norm_then_relu(*bn1_, *relu_, (*conv1_)(x, taps), taps);
    h = batch_norm_then_relu(*bn2_, *relu_, (*conv2_)(h, taps), taps);
    h = (*bn3_)((*conv3_)(h, taps), taps);
    // The last call of `relu` is the block's output, so the tap "layerK.i.relu" is that.
    return add_then_relu(*relu_, h, downsample_ ? (*downsample_)(x, taps) : x, taps);
  }

 private:
  std::shared_ptr<Conv2d> conv1_, conv2_, conv3_;
  std::shared_ptr<BatchNorm2d> bn1_, bn2_, bn3_;
  std::shared_ptr<ReLU> relu_;
  std::shared_ptr<Sequential> downsample_;
};

}  // namespace

std::shared_ptr<Module> make_resnet50(const ModelConfig& c, Rng& rng) {
  model_util::require_image_input("resnet50", c, 32);
  SIGNET_CHECK(c.dropout == 0.0f, "resnet50 has no dropout (torchvision's has none); drop --dropout");
  auto net = std::make_shared<Sequential>("ResNet");
  auto conv1 = std::make_shared<Conv2d>(c.input_shape[0], 64, 7, 2, 3, false, rng);
  model_util::kaiming_normal_fan_out(conv1->weight(), rng);
  net->add("conv1", conv1);
  net->add("bn1", std::make_shared<BatchNorm2d>(64));
  net->add("relu", std::make_shared<ReLU>());
  net->add("maxpool", std::make_shared<MaxPool2d>(3, 2, 1));
  const int64_t blocks[4] = {3, 4, 6, 3};
  int64_t in = 64;
  for (int s = 0; s < 4; ++s) {
    const int64_t planes = 64 << s, stride = s == 0 ? 1 : 2;
    auto stage = std::make_shared<Sequential>("Sequential");
    for (int64_t i = 0; i < blocks[s]; ++i) {
      const bool first = i == 0;
      stage->add(std::to_string(i), std::make_shared<Bottleneck>(in, planes, first ? stride : 1,
                                                                 first && (stride != 1 || in != planes * 4), rng));
      in = planes * 4;
    }
    net->add(fmt::format("layer{}", s + 1), stage);
  }
  net->add("avgpool", std::make_shared<GlobalAvgPool>());
  net->add("fc", std::make_shared<Linear>(in, c.num_classes, true, rng));
  return net;
}

}  // namespace signet
