// Opening the CUDA toolkit's libraries at run time (cuBLAS, cuDNN, NCCL), so that no signet
// process loads them before a GPU needs them and a machine without one still runs everything
// else. Host code only; the libraries stay open for the life of the process.
#pragma once
#include <dlfcn.h>

#include <string>
#include <vector>

#include "engine/error.h"

namespace signet::cuda {

// The first of `names` that loads. Otherwise an Error: "<needs>, which could not be loaded
// (every name tried and why); <hint>".
inline void* open_shared_library(const std::vector<std::string>& names, const std::string& needs,
                                 const std::string& hint) {
  std::string tried;
  for (const std::string& name : names) {
    if (void* h = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL)) return h;
    tried += fmt::format("{}{}: {}", tried.empty() ? "" : "; ", name, dlerror());
  }
  throw Error(fmt::format("{}, which could not be loaded ({}); {}", needs, tried, hint));
}

// f = the library's function `name` (an Error naming it when the library has none).
template <class F>
void bind_symbol(void* lib, const char* library, const char* name, F& f) {
  f = reinterpret_cast<F>(dlsym(lib, name));
  SIGNET_CHECK(f != nullptr, "{} was loaded but has no {} ({})", library, name, dlerror());
}

}  // namespace signet::cuda
