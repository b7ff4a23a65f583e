// Convolutional layers, pooling and batch normalisation (PyTorch's nn.Conv2d, nn.MaxPool2d,
// nn.AvgPool2d, nn.AdaptiveAvgPool2d(1) + flatten, nn.BatchNorm1d, nn.BatchNorm2d), with
// PyTorch's parameter and buffer names so state dicts move between the two unchanged.
//
// Conv2d(in, out, kernel, stride, padding, bias, rng): square kernel; params `weight`
//   [out, in, k, k] and `bias` [out]. PyTorch's default init: kaiming_uniform(a = sqrt(5)),
//   i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = in * k * k, for both (weight drawn
//   first). Input [N, in, H, W] -> [N, out, Ho, Wo].
// MaxPool2d(k, stride, padding), AvgPool2d(k, stride, padding): stride 0 means k (PyTorch's
//   default); AvgPool2d counts the zero padding (count_include_pad = True).
// GlobalAvgPool: [N, C, H, W] -> [N, C] (the mean over each plane).
// BatchNorm1d(C) (input [N, C] or [N, C, L]) and BatchNorm2d(C) (input [N, C, H, W]):
//   params `weight` (ones) and `bias` (zeros); buffers `running_mean` (zeros), `running_var`
//   (ones) and `num_batches_tracked` (int64, shape []). Training mode normalises with the batch
//   statistics, updates the running ones (momentum 0.1, unbiased variance) and counts the
//   batch; eval mode uses the running statistics. See engine/ops/batchnorm.h.
// Shape errors name the layer by its path in the model ("features.0").
#pragma once
#include "layers/module.h"

namespace signet {

class Conv2d : public Module {
 public:
  Conv2d(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding, bool bias, Rng& init_rng);
  Conv2d(int64_t in, int64_t out, int64_t kernel, Rng& init_rng) : Conv2d(in, out, kernel, 1, 0, true, init_rng) {}
  std::string type_name() const override { return "Conv2d"; }
  Tensor& weight() { return params_[0].second; }
  int64_t in_channels() const { return in_; }
  int64_t out_channels() const { return out_; }
  int64_t kernel_size() const { return k_; }
  int64_t stride() const { return stride_; }
  int64_t padding() const { return pad_; }

 protected:
  Tensor forward(const Tensor& x, Taps* taps) override;

 private:
  int64_t in_, out_, k_, stride_, pad_;
  bool has_bias_;
};

class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(int64_t kernel, int64_t stride = 0, int64_t padding = 0);
  std::string type_name() const override { return "MaxPool2d"; }

 protected:
  Tensor forward(const Tensor& x, Taps* taps) override;

 private:
  int64_t k_, stride_, pad_;
};

class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(int64_t kernel, int64_t stride = 0, int64_t padding = 0);
  std::string type_name() const override { return "AvgPool2d"; }

 protected:
  Tensor forward(const Tensor& x, Taps* taps) override;

 private:
  int64_t k_, stride_, pad_;
};

class GlobalAvgPool : public Module {
 public:
  std::string type_name() const override { return "GlobalAvgPool"; }

 protected:
  Tensor forward(const Tensor& x, Taps* taps) override;
};

// The shared implementation of BatchNorm1d / BatchNorm2d; `dims` lists the accepted input ranks.
class BatchNormBase : public Module {
 public:
  int64_t num_features() const { return C_; }
  double eps() const { return eps_; }
  double momentum() const { return momentum_; }
  Tensor& weight() { return params_[0].second; }
  Tensor& bias() { return params_[1].second; }
  Tensor& running_mean() { return buffers_[0].second; }
  Tensor& running_var() { return buffers_[1].second; }
  Tensor& num_batches_tracked() { return buffers_[2].second; }
  // relu(forward(x)) in one pass (batch_norm_relu); no tap is recorded (see batch_norm_then_relu).
  Tensor forward_relu(const Tensor& x) { return normalize(x, true); }

 protected:
  BatchNormBase(int64_t C, double eps, double momentum, std::vector<int64_t> dims);
  Tensor forward(const Tensor& x, Taps*) override { return normalize(x, false); }

 private:
  Tensor normalize(const Tensor& x, bool relu);

  int64_t C_;
  double eps_, momentum_;
  std::vector<int64_t> dims_;
};

// relu(bn(x)) as the two modules would compute it, fused into one op unless bn's own output
// is tapped (then the two run as written). relu's tap, when wanted, is the fused output; the
// profiler counts the fused op under bn's row.
Tensor batch_norm_then_relu(BatchNormBase& bn, Module& relu, const Tensor& x, Taps* taps);

class BatchNorm1d : public BatchNormBase {
 public:
  explicit BatchNorm1d(int64_t C, double eps = 1e-5, double momentum = 0.1) : BatchNormBase(C, eps, momentum, {2, 3}) {}
  std::string type_name() const override { return "BatchNorm1d"; }
};

class BatchNorm2d : public BatchNormBase {
 public:
  explicit BatchNorm2d(int64_t C, double eps = 1e-5, double momentum = 0.1) : BatchNormBase(C, eps, momentum, {4}) {}
  std::string type_name() const override { return "BatchNorm2d"; }
};

}  // namespace signet
