// Augmentation and padding: see augment.h for the contract.
#include "datasets/augment.h"

#include <algorithm>
#include <cstring>

#include "engine/rng.h"

namespace signet {

namespace {

uint64_t mix64(uint64_t z) {  // splitmix64's finaliser
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

AugmentParams augment_params(uint64_t seed, int64_t epoch, int64_t sample, int64_t pad,
                             bool flip_allowed) {
  SIGNET_CHECK(pad >= 0, "augmentation: crop padding must be >= 0, got {}", pad);
  // Chained mixing keeps (seed, epoch, sample) triples apart; the salt keeps these streams apart
  // from the shuffle's Rng(seed * 1000003 + epoch).
  uint64_t h = mix64(seed ^ 0xa0761d6478bd642fULL);
  h = mix64(h ^ static_cast<uint64_t>(epoch));
  h = mix64(h ^ static_cast<uint64_t>(sample));
  Rng rng(h);
  AugmentParams p;
  const auto span = static_cast<uint64_t>(2 * pad + 1);
  p.dy = static_cast<int64_t>(rng.below(span)) - pad;
  p.dx = static_cast<int64_t>(rng.below(span)) - pad;
  const bool coin = (rng.next_u64() >> 63) != 0;
  p.flip = flip_allowed && coin;
  return p;
}

void augment_image(const float* src, float* dst, int64_t c, int64_t h, int64_t w,
                   const AugmentParams& p) {
  // Output columns whose source column is inside the image: xs + dx in [0, w).
  for (int64_t ch = 0; ch < c; ++ch) {
    const float* s = src + ch * h * w;
    float* d = dst + ch * h * w;
    for (int64_t y = 0; y < h; ++y) {
      float* drow = d + y * w;
      const int64_t sy = y + p.dy;
      if (sy < 0 || sy >= h) {
        std::fill(drow, drow + w, 0.0f);
        continue;
      }
      const float* srow = s + sy * w;
      if (!p.flip) {
        // Source column x + dx: valid for x in [max(0, -dx), min(w, w - dx)).
        const int64_t lo = std::clamp<int64_t>(-p.dx, 0, w), hi = std::clamp<int64_t>(w - p.dx, 0, w);
        std::fill(drow, drow + lo, 0.0f);
        if (hi > lo) std::memcpy(drow + lo, srow + lo + p.dx, size_t(hi - lo) * sizeof(float));
        std::fill(drow + std::max(lo, hi), drow + w, 0.0f);
      } else {
        for (int64_t x = 0; x < w; ++x) {
          const int64_t sx = w - 1 - x + p.dx;
          drow[x] = (sx >= 0 && sx < w) ? srow[sx] : 0.0f;
        }
      }
    }
  }
}

Tensor pad_images(const Tensor& images, int64_t height, int64_t width, int64_t channels) {
  SIGNET_CHECK(images.defined() && images.dtype() == DType::F32 && images.dim() == 4,
               "pad_images: expected float32 [N, C, H, W] images, got {}",
               images.defined() ? images.str() : std::string("an undefined tensor"));
  const Tensor t = images.contiguous();
  const int64_t n = t.size(0), c = t.size(1), h = t.size(2), w = t.size(3);
  const int64_t oc = channels == 0 ? c : channels;
  SIGNET_CHECK(oc == c || (c == 1 && oc == 3),
               "pad_images: can keep the {} channels or turn 1 channel into 3, not {} into {}", c,
               c, oc);
  SIGNET_CHECK(height >= h && width >= w,
               "pad_images: the target {}x{} is smaller than the images ({}x{}); pad_images only "
               "pads",
               height, width, h, w);
  Tensor out = Tensor::zeros({n, oc, height, width}, DType::F32);
  const int64_t top = (height - h) / 2, left = (width - w) / 2;
  const float* s = t.f32();
  float* d = out.f32();
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ch = 0; ch < oc; ++ch) {
      const float* sp = s + (i * c + (c == oc ? ch : 0)) * h * w;
      float* dp = d + (i * oc + ch) * height * width;
      for (int64_t y = 0; y < h; ++y)
        std::memcpy(dp + (top + y) * width + left, sp + y * w, size_t(w) * sizeof(float));
    }
  return out;
}

Dataset pad_images(const Dataset& ds, int64_t height, int64_t width, int64_t channels) {
  Dataset out = ds;
  out.images = pad_images(ds.images, height, width, channels);
  return out;
}

}  // namespace signet
