// GradSigns (Aramoon, Chen, Qu; MLSys'21) input-gradient watermark as a registered Scheme.
#pragma once
#include "watermark/scheme.h"

namespace signet {

inline constexpr const char* kGradSigns = "gradsigns";

const Scheme& gradsigns_scheme();

}  // namespace signet
