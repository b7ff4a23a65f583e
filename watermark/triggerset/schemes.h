// The trigger-set watermarks (watermark/triggerset/trigger_set.h) as registered Schemes.
#pragma once
#include "watermark/scheme.h"

namespace signet {

inline constexpr const char* kZhangContent = "zhang-content";
inline constexpr const char* kZhangUnrelated = "zhang-unrelated";
inline constexpr const char* kZhangNoise = "zhang-noise";
inline constexpr const char* kAdi = "adi";
inline constexpr const char* kFrontierStitching = "frontier-stitching";

const Scheme& zhang_content_scheme();
const Scheme& zhang_unrelated_scheme();
const Scheme& zhang_noise_scheme();
const Scheme& adi_scheme();
const Scheme& frontier_stitching_scheme();

}  // namespace signet
