// FGSM for frontier stitching (watermark/triggerset/frontier.cpp).
#pragma once
#include "models/model_io.h"

namespace signet {

// x' = clip(x + eps * sign(d loss(model(x), y) / d x), 0, 1) for raw-pixel images x [n, C, H, W]
// (normalised with `norm` inside), the model in eval mode; the model's weights are unchanged.
Tensor fgsm(Model& model, const Normalization& norm, const Tensor& x, const Tensor& y, float eps);

}  // namespace signet
