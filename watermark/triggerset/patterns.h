// Image material for trigger sets: the stamped pattern of Zhang et al.'s content watermark (the
// word "TEST" in a tiny bitmap font, or an owner's logo read with stb_image), and fitting images
// of another data set to a model's input shape.
#pragma once
#include <string>

#include "datasets/dataset.h"
#include "engine/rng.h"

namespace signet {

// A pattern to stamp: value and opacity per pixel (float32 [h, w] each, in [0, 1]).
struct StampPattern {
  Tensor value, alpha;
  int64_t height() const { return value.size(0); }
  int64_t width() const { return value.size(1); }
};

// "TEST" in a 3x5-dot font with one blank column between letters, each dot `scale` x `scale`
// pixels of intensity `value` (opaque); blank dots are transparent.
StampPattern text_pattern(const std::string& text, int64_t scale, float value);
// An image file (PNG, PGM/PPM, BMP, ...: whatever stb_image reads) as grey + alpha (files without
// alpha are opaque), each pixel enlarged to `scale` x `scale`. Error naming the file when unreadable.
StampPattern image_pattern(const std::string& path, int64_t scale);

// Blends the pattern into every channel of each image [N, C, H, W] at (x, y) (top-left):
// out = alpha * value + (1 - alpha) * image. Error when it does not fit.
Tensor stamp(const Tensor& images, const StampPattern& p, int64_t x, int64_t y);

// Images [N, C', H', W'] in [0, 1] fitted to [C, H, W]: nearest-neighbour resize; grey images
// copied into every channel, colour images averaged to grey for one-channel models.
Tensor fit_images(const Tensor& images, const Shape& chw);

// K indices of `labels` equal to `cls` (any class when cls < 0), drawn without replacement.
// Error naming `what` when fewer than K exist.
std::vector<int64_t> pick_of_class(const Tensor& labels, int64_t cls, int64_t K, Rng& rng, const std::string& what);

}  // namespace signet
