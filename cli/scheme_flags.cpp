#include "cli/scheme_flags.h"

#include <fmt/format.h>

#include <algorithm>

namespace signet::cli {

std::string flag_name(const std::string& option) {
  std::string f = option;
  std::replace(f.begin(), f.end(), '_', '-');
  return "--" + f;
}

const Scheme& scheme_from_flag(const std::string& name) {
  for (const Scheme* s : all_schemes())
    if (s->info().name == name) return *s;
  throw Error(fmt::format("--scheme '{}' is not a registered scheme (available: {}; see `signet schemes`)", name,
                          scheme_names()));
}

void SchemeFlags::add_to(CLI::App* c) {
  // name -> "scheme: help (default x)" lines, in registry order.
  std::map<std::string, std::vector<std::string>> help;
  std::vector<std::string> order;
  for (const Scheme* s : all_schemes())
    for (const SchemeOption& o : s->options()) {
      if (!help.count(o.name)) order.push_back(o.name);
      help[o.name].push_back(fmt::format("{}: {}{}", s->info().name, o.help,
                                         o.default_value.empty() ? "" : " [" + o.default_value + "]"));
    }
  for (const std::string& name : order) {
    Flag f;
    f.option = c->add_option(flag_name(name), *f.value, fmt::format("{}", fmt::join(help[name], "; ")));
    flags_[name] = f;
  }
}

SchemeParams SchemeFlags::params_for(const Scheme& scheme) const {
  SchemeParams p = scheme.params();
  for (const auto& [name, f] : flags_) {
    if (f.option->count() == 0) continue;
    if (!p.has(name)) {
      std::vector<std::string> own;
      for (const SchemeOption& o : scheme.options()) own.push_back(flag_name(o.name));
      throw Error(fmt::format("{} is not an option of scheme {} (its options: {})", flag_name(name),
                              scheme.info().name, own.empty() ? "none" : fmt::format("{}", fmt::join(own, " "))));
    }
    p.set(name, *f.value, flag_name(name));
  }
  return p;
}

}  // namespace signet::cli
