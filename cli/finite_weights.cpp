#include "cli/finite_weights.h"

#include <cmath>
#include <cstdio>

#include <fmt/format.h>

#include "engine/error.h"

namespace signet::cli {

std::string nonfinite_weights(const Model& m, const std::string& path) {
  for (const auto& [name, t] : state_dict(*m.net)) {
    if (t.dtype() != DType::F32) continue;
    const Tensor c = t.contiguous();
    const float* p = c.f32();
    int64_t bad = 0;
    for (int64_t i = 0; i < c.numel(); ++i) bad += !std::isfinite(p[i]);
    if (bad) return fmt::format("{}: tensor '{}' holds {} NaN/Inf value{}", path, name, bad, bad == 1 ? "" : "s");
  }
  return "";
}

void warn_if_nonfinite(const Model& m, const std::string& path) {
  const std::string what = nonfinite_weights(m, path);
  if (!what.empty())
    std::fprintf(stderr, "signet: warning: %s; its outputs are not meaningful\n", what.c_str());
}

void require_finite(const Model& m, const std::string& path) {
  const std::string what = nonfinite_weights(m, path);
  SIGNET_CHECK(what.empty(), "{}: a model with non-finite weights gives no evidence either way, so no ownership "
               "decision is made (was it trained with too high a learning rate, or is the file corrupt?)", what);
}

}  // namespace signet::cli
