// The two DeepSigns schemes (paper Sections 3.1 and 3.2) as registered Schemes.
#pragma once
#include <cstdint>

#include "watermark/scheme.h"

namespace signet {

inline constexpr const char* kDeepSignsHidden = "deepsigns-hidden";
inline constexpr const char* kDeepSignsOutput = "deepsigns-output";
inline constexpr int64_t kOutputEpochLimit = 30;  // deepsigns-output fine-tuning epoch limit

const Scheme& deepsigns_hidden_scheme();
const Scheme& deepsigns_output_scheme();

}  // namespace signet
