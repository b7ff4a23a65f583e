// What `signet --version` reports: the version, the git commit the binary was built from, and
// the build's options (CPU target and kernels, CUDA toolkit, sanitizer, build type, compiler),
// so a result or a bug report can say exactly which build produced it.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace signet::cli {

// Several lines; the first is "signet VERSION".
std::string version_text();
// The same facts as one JSON object (`signet --version --json`).
nlohmann::json version_json();

}  // namespace signet::cli
