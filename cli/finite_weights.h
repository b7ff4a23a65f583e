// Models whose weights hold NaN or Inf (a diverged run, a corrupt or crafted file): their
// outputs mean nothing, so commands that only report warn and commands that decide refuse.
#pragma once
#include <string>

#include "models/model_io.h"

namespace signet::cli {

// "" when every float tensor of the model's state (parameters, then buffers) is finite, else
// "PATH: tensor 'NAME' holds K NaN/Inf values" for the first that is not.
std::string nonfinite_weights(const Model& m, const std::string& path);
// A warning on stderr (evaluate, predict) when the weights are not all finite.
void warn_if_nonfinite(const Model& m, const std::string& path);
// An Error (extract, verify): no ownership decision is made on such a model.
void require_finite(const Model& m, const std::string& path);

}  // namespace signet::cli
