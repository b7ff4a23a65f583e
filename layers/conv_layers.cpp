#include "layers/conv_layers.h"

#include <cmath>

#include "engine/autograd.h"
#include "engine/ops/batchnorm.h"
#include "engine/ops/conv2d.h"
#include "engine/ops/pool.h"
#include "engine/profiler.h"

namespace signet {

namespace {
Tensor uniform_init(const Shape& shape, float bound, Rng& rng) {
  Tensor t = Tensor::empty(shape);
  float* p = t.f32();
  for (int64_t i = 0, n = t.numel(); i < n; ++i) p[i] = rng.uniform(-bound, bound);
  return t;
}

// "features.0 (Conv2d)" or just "Conv2d" for a module outside a model.
std::string who(const Module& m) { return m.path().empty() ? m.type_name() : m.path() + " (" + m.type_name() + ")"; }

void check_4d(const Module& m, const Tensor& x, int64_t C, const char* what) {
  SIGNET_CHECK(x.dim() == 4 && x.size(1) == C, "{}: expected input [N, {}, H, W] ({}), got {}", who(m), C, what,
               shape_str(x.shape()));
}
}  // namespace

// ---------------------------------------------------------------- Conv2d
Conv2d::Conv2d(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding, bool bias, Rng& init_rng)
    : in_(in), out_(out), k_(kernel), stride_(stride), pad_(padding), has_bias_(bias) {
  SIGNET_CHECK(in > 0 && out > 0 && kernel > 0, "Conv2d({}, {}, kernel {}): sizes must be positive", in, out, kernel);
  SIGNET_CHECK(stride > 0 && padding >= 0, "Conv2d({}, {}): stride {} must be positive and padding {} not negative",
               in, out, stride, padding);
  // kaiming_uniform_(a = sqrt(5)): gain sqrt(2 / (1 + 5)), bound gain * sqrt(3 / fan_in) = 1 / sqrt(fan_in).
  const float bound = 1.0f / std::sqrt(static_cast<float>(in * kernel * kernel));
  register_parameter("weight", uniform_init({out, in, kernel, kernel}, bound, init_rng));
  if (bias) register_parameter("bias", uniform_init({out}, bound, init_rng));
}

Tensor Conv2d::forward(const Tensor& x, Taps*) {
  check_4d(*this, x, in_, "in_channels");
  SIGNET_CHECK(x.size(2) + 2 * pad_ >= k_ && x.size(3) + 2 * pad_ >= k_,
               "{}: input {} is smaller than the {}x{} kernel (padding {})", who(*this), shape_str(x.shape()), k_, k_,
               pad_);
  return conv2d(x, params_[0].second, has_bias_ ? params_[1].second : Tensor(), stride_, stride_, pad_, pad_);
}

// ---------------------------------------------------------------- pooling
MaxPool2d::MaxPool2d(int64_t kernel, int64_t stride, int64_t padding) : k_(kernel), stride_(stride), pad_(padding) {
  pool2d_geom("MaxPool2d", {1, 1, kernel, kernel}, kernel, stride, padding);  // validates the window
}

Tensor MaxPool2d::forward(const Tensor& x, Taps*) {
  SIGNET_CHECK(x.dim() == 4, "{}: expected input [N, C, H, W], got {}", who(*this), shape_str(x.shape()));
  SIGNET_CHECK(x.size(2) + 2 * pad_ >= k_ && x.size(3) + 2 * pad_ >= k_,
               "{}: input {} is smaller than the {}x{} window (padding {})", who(*this), shape_str(x.shape()), k_, k_,
               pad_);
  return max_pool2d(x, k_, stride_, pad_);
}

AvgPool2d::AvgPool2d(int64_t kernel, int64_t stride, int64_t padding) : k_(kernel), stride_(stride), pad_(padding) {
  pool2d_geom("AvgPool2d", {1, 1, kernel, kernel}, kernel, stride, padding);
}

Tensor AvgPool2d::forward(const Tensor& x, Taps*) {
  SIGNET_CHECK(x.dim() == 4, "{}: expected input [N, C, H, W], got {}", who(*this), shape_str(x.shape()));
  SIGNET_CHECK(x.size(2) + 2 * pad_ >= k_ && x.size(3) + 2 * pad_ >= k_,
               "{}: input {} is smaller than the {}x{} window (padding {})", who(*this), shape_str(x.shape()), k_, k_,
               pad_);
  return avg_pool2d(x, k_, stride_, pad_);
}

Tensor GlobalAvgPool::forward(const Tensor& x, Taps*) {
  SIGNET_CHECK(x.dim() == 4 && x.size(2) * x.size(3) > 0, "{}: expected input [N, C, H, W] with H, W > 0, got {}",
               who(*this), shape_str(x.shape()));
  return global_avg_pool(x);
}

// ---------------------------------------------------------------- batch norm
BatchNormBase::BatchNormBase(int64_t C, double eps, double momentum, std::vector<int64_t> dims)
    : C_(C), eps_(eps), momentum_(momentum), dims_(std::move(dims)) {
  SIGNET_CHECK(C > 0, "BatchNorm({}): the number of features must be positive", C);
  SIGNET_CHECK(eps > 0 && momentum >= 0 && momentum <= 1,
               "BatchNorm({}): eps {} must be positive and momentum {} in [0, 1]", C, eps, momentum);
  register_parameter("weight", Tensor::ones({C}));
  register_parameter("bias", Tensor::zeros({C}));
  register_buffer("running_mean", Tensor::zeros({C}));
  register_buffer("running_var", Tensor::ones({C}));
  register_buffer("num_batches_tracked", Tensor::zeros({}, DType::I64));
}

Tensor BatchNormBase::normalize(const Tensor& x, bool relu) {
  bool rank_ok = false;
  std::string ranks;
  for (int64_t d : dims_) {
    rank_ok = rank_ok || x.dim() == d;
    ranks += (ranks.empty() ? "" : " or ") + std::to_string(d) + "-d";
  }
  SIGNET_CHECK(rank_ok && x.size(1) == C_, "{}: expected a {} input with {} channels at dim 1, got {}", who(*this),
               ranks, C_, shape_str(x.shape()));
  if (training_) {
    const int64_t per_channel = x.numel() / C_;
    SIGNET_CHECK(per_channel > 1, "{}: expected more than 1 value per channel when training, got input {}",
                 who(*this), shape_str(x.shape()));
  }
  Tensor y = (relu ? batch_norm_relu : batch_norm)(x, params_[0].second, params_[1].second, buffers_[0].second,
                                                   buffers_[1].second, training_, momentum_, eps_);
  if (training_) {
    Tensor& count = num_batches_tracked();
    if (count.device().is_cpu()) {
      count.i64()[0] += 1;
    } else {  // one int64 on a device: counted on the host and written back
      Tensor host = count.to(Device::cpu());
      host.i64()[0] += 1;
      count.copy_(host);
    }
  }
  return y;
}

Tensor batch_norm_then_relu(BatchNormBase& bn, Module& relu, const Tensor& x, Taps* taps) {
  if (taps && !bn.path().empty() && taps->wants(bn.path())) return relu(bn(x, taps), taps);
  Tensor y;
  {
    profiler::LayerScope profile_layer(&bn, bn.path(), [&bn] { return bn.type_name(); });
    y = bn.forward_relu(x);
  }
  if (taps && !relu.path().empty() && taps->wants(relu.path())) taps->got[relu.path()] = y;
  return y;
}

}  // namespace signet
