// Uchida et al. (ICMR'17) weight watermark as a registered Scheme.
#pragma once
#include "watermark/scheme.h"

namespace signet {

inline constexpr const char* kUchida = "uchida";

const Scheme& uchida_scheme();

}  // namespace signet
