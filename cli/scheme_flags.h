// The options of every registered scheme as command-line flags (--name, '_' written '-'), so a
// new scheme's options reach `signet embed` without touching cli/. A flag given for a scheme that
// does not declare it is an error that lists the scheme's own options.
#pragma once
#include <CLI/CLI.hpp>
#include <map>
#include <memory>
#include <string>

#include "watermark/scheme.h"

namespace signet::cli {

class SchemeFlags {
 public:
  // Adds one flag per distinct option name over all schemes; help says which schemes take it.
  void add_to(CLI::App* c);
  // The chosen scheme's parameters: defaults, then the flags given (checked).
  SchemeParams params_for(const Scheme& scheme) const;

 private:
  struct Flag {
    std::shared_ptr<std::string> value = std::make_shared<std::string>();
    CLI::Option* option = nullptr;
  };
  std::map<std::string, Flag> flags_;  // option name -> flag
};

std::string flag_name(const std::string& option);  // "key_search" -> "--key-search"
// The scheme named by --scheme; Error naming the flag and listing the registered schemes.
const Scheme& scheme_from_flag(const std::string& name);

}  // namespace signet::cli
