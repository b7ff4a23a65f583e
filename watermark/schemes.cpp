// The registry: every scheme Signet knows, in the order `signet schemes` lists them (the first is
// the default of `signet embed --scheme`). A new
// scheme adds one line here (an explicit list: self-registering objects in a static library
// would be dropped by the linker).
#include <fmt/format.h>

#include "engine/error.h"
#include "watermark/deepsigns/schemes.h"
#include "watermark/gradsigns/schemes.h"
#include "watermark/scheme.h"
#include "watermark/uchida/schemes.h"
#include "watermark/triggerset/schemes.h"

namespace signet {

const std::vector<const Scheme*>& all_schemes() {
  static const std::vector<const Scheme*> s = {
      &deepsigns_hidden_scheme(), &deepsigns_output_scheme(), &uchida_scheme(),      &gradsigns_scheme(),
      &zhang_noise_scheme(),      &zhang_content_scheme(),   &zhang_unrelated_scheme(), &adi_scheme(),
      &frontier_stitching_scheme()};
  return s;
}

std::string scheme_names() {
  std::vector<std::string> n;
  for (const Scheme* s : all_schemes()) n.push_back(s->info().name);
  return fmt::format("{}", fmt::join(n, ", "));
}

const Scheme& find_scheme(const std::string& name) {
  for (const Scheme* s : all_schemes())
    if (s->info().name == name) return *s;
  throw Error(fmt::format("unknown watermark scheme '{}' (available: {}; `signet schemes` describes them)", name,
                          scheme_names()));
}

}  // namespace signet
