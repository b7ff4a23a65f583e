// Image augmentation (random crop with zero padding, horizontal flip) and a pad/replicate helper
// for running 28 x 28 grey sets through 32 x 32 RGB models.
//
// Augmentation (the standard CIFAR recipe: torchvision RandomCrop(H, padding=pad) followed by
// RandomHorizontalFlip(0.5)), applied by the DataLoader in pixel space, before normalisation:
//   out[c, y, x] = in[c, y + dy, xs + dx]   with xs = flip ? W - 1 - x : x,
// and 0 where (y + dy, xs + dx) falls outside the image (the zero padding). dy and dx are uniform
// in [-pad, pad]; flip has probability 0.5. The draw for a sample is a function of
// (seed, epoch, sample index) only (augment_params), so a run is reproducible, a resumed epoch
// sees the same crops, and results do not depend on which thread assembles the batch.
#pragma once
#include <cstdint>

#include "datasets/dataset.h"

namespace signet {

struct AugmentParams {
  int64_t dy = 0, dx = 0;  // crop offset in [-pad, pad]; (0, 0) is the centre crop
  bool flip = false;       // mirror left-right
};

// The augmentation of dataset sample `sample` in epoch `epoch` of a loader seeded with `seed`.
// pad >= 0; flip_allowed = false never flips.
AugmentParams augment_params(uint64_t seed, int64_t epoch, int64_t sample, int64_t pad,
                             bool flip_allowed = true);

// Writes the augmented image (C planes of H x W, row-major) to dst; src and dst must not overlap.
void augment_image(const float* src, float* dst, int64_t c, int64_t h, int64_t w,
                   const AugmentParams& p);

// Zero-pads float32 [N, C, h, w] images to [N, C', H, W], centred: (H - h) / 2 rows on top (the
// odd row, if any, goes at the bottom), likewise columns. channels = 0 keeps C; channels = 3 on
// a 1-channel set replicates the grey plane into R, G and B. Targets smaller than the images, or
// other channel changes, throw Error. E.g. Fashion-MNIST 28 x 28 -> 32 x 32 adds 2 on each side.
Tensor pad_images(const Tensor& images, int64_t height, int64_t width, int64_t channels = 0);

// The same for a Dataset (labels and the other fields are shared, not copied).
Dataset pad_images(const Dataset& ds, int64_t height, int64_t width, int64_t channels = 0);

}  // namespace signet
