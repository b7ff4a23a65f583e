#include "watermark/scheme.h"

#include <fmt/format.h>

#include <cmath>

#include "engine/error.h"

namespace signet {

SchemeOption integer_option(std::string name, int64_t def, double min, double max, std::string help) {
  SchemeOption o;
  o.name = std::move(name);
  o.type = SchemeOption::Type::Integer;
  o.default_value = std::to_string(def);
  o.help = std::move(help);
  o.min = min;
  o.max = max;
  return o;
}

SchemeOption real_option(std::string name, double def, double min, double max, std::string help) {
  SchemeOption o = integer_option(std::move(name), 0, min, max, std::move(help));
  o.type = SchemeOption::Type::Real;
  o.default_value = fmt::format("{}", def);
  return o;
}

SchemeOption text_option(std::string name, std::string def, std::string help, std::vector<std::string> choices,
                         bool personal) {
  SchemeOption o;
  o.name = std::move(name);
  o.default_value = std::move(def);
  o.help = std::move(help);
  o.choices = std::move(choices);
  o.personal = personal;
  return o;
}

SchemeParams::SchemeParams(std::string scheme, const std::vector<SchemeOption>& options)
    : scheme_(std::move(scheme)), options_(options) {
  for (const SchemeOption& o : options_) values_[o.name] = o.default_value;
}

const SchemeOption& SchemeParams::option(const std::string& name) const {
  for (const SchemeOption& o : options_)
    if (o.name == name) return o;
  std::vector<std::string> names;
  for (const SchemeOption& o : options_) names.push_back(o.name);
  throw Error(fmt::format("scheme {} has no option '{}' (its options: {})", scheme_, name, fmt::join(names, ", ")));
}

void SchemeParams::set(const std::string& name, const std::string& value, const std::string& what_) {
  const SchemeOption& o = option(name);
  const std::string what = what_.empty() ? fmt::format("{} option {}", scheme_, name) : what_;
  if (o.type == SchemeOption::Type::Text) {
    if (!o.choices.empty()) {
      bool ok = false;
      for (const std::string& c : o.choices) ok = ok || c == value;
      SIGNET_CHECK(ok, "{} '{}' is not one of: {}", what, value, fmt::join(o.choices, ", "));
    }
  } else {
    double v = 0;
    size_t used = 0;
    try {
      v = o.type == SchemeOption::Type::Integer ? static_cast<double>(std::stoll(value, &used)) : std::stod(value, &used);
    } catch (const std::logic_error&) {
      used = 0;
    }
    SIGNET_CHECK(used == value.size() && !value.empty() && std::isfinite(v), "{} must be {}, got '{}'", what,
                 o.type == SchemeOption::Type::Integer ? "a whole number" : "a number", value);
    SIGNET_CHECK(v >= o.min && v <= o.max, "{} must be between {} and {}, got {}", what, o.min, o.max, value);
  }
  values_[name] = value;
  given_[name] = true;
}

int64_t SchemeParams::integer(const std::string& name) const {
  SIGNET_CHECK(option(name).type == SchemeOption::Type::Integer, "{} option {} is not an integer", scheme_, name);
  return std::stoll(values_.at(name));
}

double SchemeParams::real(const std::string& name) const {
  SIGNET_CHECK(option(name).type != SchemeOption::Type::Text, "{} option {} is not a number", scheme_, name);
  return std::stod(values_.at(name));
}

const std::string& SchemeParams::text(const std::string& name) const {
  option(name);
  return values_.at(name);
}

std::string SchemeParams::canonical() const {
  std::string s;
  for (const auto& [k, v] : values_) {
    const SchemeOption& o = option(k);
    if (o.omit_at_default && v == o.default_value) continue;
    s += (s.empty() ? "" : ";") + k + "=" + v;
  }
  return s;
}

Evidence Scheme::extract(Model& suspect, const Normalization& suspect_norm, const SchemeKeys& keys,
                         double alpha) const {
  SIGNET_CHECK(info().black_box, "scheme {} has no extraction", info().name);
  LocalModelOracle oracle(suspect, suspect_norm, "suspect model");
  return query(oracle, keys, alpha);
}

Evidence Scheme::query(Oracle&, const SchemeKeys&, double) const {
  throw Error(fmt::format("scheme {} is white-box only: it needs the suspect model's weights, not an API's answers",
                          info().name));
}

Evidence Scheme::extract_aligned(Model&, const SchemeKeys&, Model*) const {
  throw Error(fmt::format("scheme {} has no unit-aligned extraction", info().name));
}

std::string save_keys(const std::string& path, const SchemeKeys& keys) {
  NamedTensors nt = keys.to_file();
  for (const auto& [k, v] : keys.provenance) nt.metadata.emplace(k, v);
  nt.metadata["signet.keys_version"] = "2";
  return write_keys_file(path, std::move(nt), keys.scheme(), keys.norm());
}

LoadedKeys load_keys(const std::string& path) {
  const KeysFile kf = read_keys_file(path);
  auto v = kf.nt.metadata.find("signet.keys_version");
  SIGNET_CHECK(v == kf.nt.metadata.end() || v->second == "1" || v->second == "2",
               "{}: keys file format version {} is newer than this signet reads (2)", path, v->second);
  LoadedKeys lk;
  lk.scheme = &find_scheme(kf.scheme);
  lk.keys = lk.scheme->read_keys(kf);
  lk.path = path;
  lk.sha256 = kf.sha256;
  return lk;
}

}  // namespace signet
