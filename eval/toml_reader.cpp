#include "eval/toml_reader.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "engine/error.h"

namespace signet::eval {

namespace {
// toml11 parses, builds and destroys nested arrays, inline tables and dotted keys recursively: a
// line such as `x = [[[[...` or `a.a.a...a = 1` 100,000 deep overflowed the stack (and a table
// header that long took minutes). This O(n) scan bounds both before parsing: the nesting of
// [ and { outside strings and comments, and the dots of one key (a table header, or what
// precedes `=` at the start of a line, after `{` or after `,` in an inline table).
constexpr size_t kMaxTomlDepth = 64;

void require_toml_depth(const std::string& text, const std::string& file) {
  std::string open;  // the brackets open at this point, innermost last
  size_t dots = 0, line = 1;
  bool comment = false, in_key = true;
  const size_t n = text.size();
  for (size_t i = 0; i < n; ++i) {
    const char ch = text[i];
    if (ch == '\n') {
      ++line;
      comment = false;
      if (open.empty()) in_key = true, dots = 0;
      continue;
    }
    if (comment) continue;
    if (ch == '"' || ch == '\'') {
      // Skip the whole string as TOML reads it: three quotes open a multi-line string that ends
      // at the next three (a lone quote inside does not end it); escapes only in "..." strings.
      const bool triple = i + 2 < n && text[i + 1] == ch && text[i + 2] == ch;
      size_t j = i + (triple ? 3 : 1);
      for (; j < n; ++j) {
        if (text[j] == '\n') {
          if (!triple) break;  // an unterminated one-line string: toml11 reports it
          ++line;
        } else if (ch == '"' && text[j] == '\\') {
          ++j;
        } else if (text[j] == ch && (!triple || (j + 2 < n && text[j + 1] == ch && text[j + 2] == ch))) {
          if (triple) {  // a closing triple may be followed by up to two quotes of the string
            j += 2;
            while (j + 1 < n && text[j + 1] == ch) ++j;
          }
          break;
        }
      }
      i = j < n && text[j] == '\n' ? j - 1 : j;
      continue;
    }
    if (ch == '#') {
      comment = true;
    } else if (ch == '[' || ch == '{') {
      open += ch;
      if (ch == '{') in_key = true, dots = 0;
      if (open.size() > kMaxTomlDepth)
        throw Error(fmt::format("{}:{}: arrays or tables nested more than {} deep: not a config", file, line,
                                kMaxTomlDepth));
    } else if ((ch == ']' || ch == '}') && !open.empty()) {
      open.pop_back();
    } else if (ch == '=') {
      in_key = false;
    } else if (ch == ',' && !open.empty() && open.back() == '{') {
      in_key = true, dots = 0;
    } else if (ch == '.' && in_key && ++dots > kMaxTomlDepth) {
      throw Error(fmt::format("{}:{}: a dotted key of more than {} parts: not a config", file, line,
                              kMaxTomlDepth));
    }
  }
}

// A TOML file must be valid UTF-8 (the spec says so), and toml11 reads past the end of its buffer
// on a literal string holding invalid UTF-8 (found by fuzzing): refuse such text before it.
void check_utf8(const std::string& text, const std::string& file) {
  int line = 1;
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\n') ++line;
    const size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    bool ok = n > 0 && i + n <= text.size();
    for (size_t k = 1; ok && k < n; ++k) ok = (static_cast<unsigned char>(text[i + k]) & 0xc0) == 0x80;
    if (ok && n > 1) {  // no overlong forms, no surrogates, nothing above U+10FFFF
      const auto c1 = static_cast<unsigned char>(text[i + 1]);
      ok = !(n == 2 && c < 0xc2) && !(c == 0xe0 && c1 < 0xa0) && !(c == 0xed && c1 >= 0xa0) &&
           !(c == 0xf0 && c1 < 0x90) && !(c == 0xf4 && c1 >= 0x90) && c <= 0xf4;
    }
    SIGNET_CHECK(ok, "{}:{}: not valid UTF-8 (byte 0x{:02x}); a TOML file must be UTF-8 text", file, line, c);
    i += n;
  }
}
}  // namespace

toml::value parse_toml(const std::string& text, const std::string& file) {
  check_utf8(text, file);
  require_toml_depth(text, file);
  std::istringstream is(text);
  try {
    return toml::parse(is, file);
  } catch (const std::exception& e) {
    throw Error(fmt::format("{}: not valid TOML: {}", file, e.what()));
  }
}

TomlTable::TomlTable(const toml::value& v, std::string file, std::string where)
    : v_(v), file_(std::move(file)), where_(std::move(where)) {
  if (!v_.is_table()) throw Error(fmt::format("{}: {} must be a table", file_, where_));
}

bool TomlTable::has(const std::string& key) const { return v_.as_table().count(key) > 0; }

const toml::value* TomlTable::get(const std::string& key) {
  allowed_.insert(key);
  const auto& t = v_.as_table();
  const auto it = t.find(key);
  return it == t.end() ? nullptr : &it->second;
}

std::string TomlTable::type_of(const toml::value& v) const {
  if (v.is_string()) return "a string";
  if (v.is_integer()) return "an integer";
  if (v.is_floating()) return "a float";
  if (v.is_boolean()) return "a boolean";
  if (v.is_array()) return "an array";
  if (v.is_table()) return "a table";
  return "a date/time";
}

void TomlTable::fail(const std::string& key, const std::string& msg) const {
  const auto& t = v_.as_table();
  const auto it = t.find(key);
  const auto line = it != t.end() ? it->second.location().line() : v_.location().line();
  throw Error(fmt::format("{}:{}: {}key '{}': {}", file_, line, where_.empty() ? "" : where_ + ": ", key, msg));
}

std::string TomlTable::str(const std::string& key, const std::string& def, const std::vector<std::string>& allowed) {
  const toml::value* v = get(key);
  if (!v) return def;
  if (!v->is_string()) fail(key, "must be a string, got " + type_of(*v));
  const std::string s = v->as_string().str;
  if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), s) == allowed.end())
    fail(key, fmt::format("'{}' is not allowed (allowed: {})", s, fmt::join(allowed, ", ")));
  return s;
}

std::string TomlTable::required_str(const std::string& key, const std::vector<std::string>& allowed) {
  if (!has(key)) {
    allowed_.insert(key);
    throw Error(fmt::format("{}: {}the key '{}' is required{}", file_, where_.empty() ? "" : where_ + ": ", key,
                            allowed.empty() ? "" : fmt::format(" (one of: {})", fmt::join(allowed, ", "))));
  }
  return str(key, "", allowed);
}

int64_t TomlTable::integer(const std::string& key, int64_t def, int64_t lo, int64_t hi) {
  const toml::value* v = get(key);
  if (!v) return def;
  if (!v->is_integer()) fail(key, "must be an integer, got " + type_of(*v));
  const int64_t x = v->as_integer();
  if (x < lo || x > hi) fail(key, fmt::format("{} is out of range (allowed: {} to {})", x, lo, hi));
  return x;
}

double TomlTable::number(const std::string& key, double def, double lo, double hi) {
  const toml::value* v = get(key);
  if (!v) return def;
  if (!v->is_integer() && !v->is_floating()) fail(key, "must be a number, got " + type_of(*v));
  const double x = v->is_integer() ? static_cast<double>(v->as_integer()) : v->as_floating();
  if (!std::isfinite(x) || x < lo || x > hi) fail(key, fmt::format("{} is out of range (allowed: {} to {})", x, lo, hi));
  return x;
}

bool TomlTable::boolean(const std::string& key, bool def) {
  const toml::value* v = get(key);
  if (!v) return def;
  if (!v->is_boolean()) fail(key, "must be true or false, got " + type_of(*v));
  return v->as_boolean();
}

std::vector<int64_t> TomlTable::integers(const std::string& key, const std::vector<int64_t>& def, int64_t lo,
                                         int64_t hi) {
  const toml::value* v = get(key);
  if (!v) return def;
  std::vector<toml::value> items = v->is_array() ? v->as_array() : std::vector<toml::value>{*v};
  if (items.empty()) fail(key, "must not be empty");
  std::vector<int64_t> out;
  for (const auto& it : items) {
    if (!it.is_integer()) fail(key, "must be an integer or an array of integers, found " + type_of(it));
    const int64_t x = it.as_integer();
    if (x < lo || x > hi) fail(key, fmt::format("{} is out of range (allowed: {} to {})", x, lo, hi));
    out.push_back(x);
  }
  return out;
}

std::vector<double> TomlTable::numbers(const std::string& key, const std::vector<double>& def, double lo, double hi) {
  const toml::value* v = get(key);
  if (!v) return def;
  std::vector<toml::value> items = v->is_array() ? v->as_array() : std::vector<toml::value>{*v};
  if (items.empty()) fail(key, "must not be empty");
  std::vector<double> out;
  for (const auto& it : items) {
    if (!it.is_integer() && !it.is_floating()) fail(key, "must be a number or an array of numbers, found " + type_of(it));
    const double x = it.is_integer() ? static_cast<double>(it.as_integer()) : it.as_floating();
    if (!std::isfinite(x) || x < lo || x > hi) fail(key, fmt::format("{} is out of range (allowed: {} to {})", x, lo, hi));
    out.push_back(x);
  }
  return out;
}

std::vector<std::string> TomlTable::strings(const std::string& key, const std::vector<std::string>& def,
                                            const std::vector<std::string>& allowed) {
  const toml::value* v = get(key);
  if (!v) return def;
  std::vector<toml::value> items = v->is_array() ? v->as_array() : std::vector<toml::value>{*v};
  std::vector<std::string> out;
  for (const auto& it : items) {
    if (!it.is_string()) fail(key, "must be a string or an array of strings, found " + type_of(it));
    const std::string s = it.as_string().str;
    if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), s) == allowed.end())
      fail(key, fmt::format("'{}' is not allowed (allowed: {})", s, fmt::join(allowed, ", ")));
    out.push_back(s);
  }
  return out;
}

std::map<std::string, std::string> TomlTable::scalars(const std::string& key,
                                                      const std::vector<std::string>& allowed_keys) {
  const toml::value* v = get(key);
  std::map<std::string, std::string> out;
  if (!v) return out;
  if (!v->is_table()) fail(key, "must be a table such as { model = \"mnist-mlp\", strength = 0.5 }, got " + type_of(*v));
  for (const auto& [k, x] : v->as_table()) {
    if (std::find(allowed_keys.begin(), allowed_keys.end(), k) == allowed_keys.end())
      fail(key, fmt::format("'{}' is not a column (allowed: {})", k, fmt::join(allowed_keys, ", ")));
    if (x.is_string()) out[k] = x.as_string().str;
    else if (x.is_integer()) out[k] = std::to_string(x.as_integer());
    else if (x.is_floating()) out[k] = fmt::format("{}", x.as_floating());
    else if (x.is_boolean()) out[k] = x.as_boolean() ? "true" : "false";
    else fail(key, fmt::format("'{}' must be a string, number or boolean, got {}", k, type_of(x)));
  }
  return out;
}

std::optional<TomlTable> TomlTable::table(const std::string& key) {
  const toml::value* v = get(key);
  if (!v) return std::nullopt;
  if (!v->is_table()) fail(key, "must be a table ([" + key + "]), got " + type_of(*v));
  return TomlTable(*v, file_, "[" + (where_.empty() ? "" : where_ + ".") + key + "]");
}

std::vector<TomlTable> TomlTable::tables(const std::string& key) {
  const toml::value* v = get(key);
  std::vector<TomlTable> out;
  if (!v) return out;
  if (!v->is_array()) fail(key, "must be an array of tables ([[" + key + "]]), got " + type_of(*v));
  const auto& arr = v->as_array();
  for (size_t i = 0; i < arr.size(); ++i) {
    if (!arr[i].is_table()) fail(key, "must be an array of tables ([[" + key + "]])");
    out.emplace_back(arr[i], file_, fmt::format("[[{}]] #{}", key, i + 1));
  }
  return out;
}

void TomlTable::finish() const {
  for (const auto& [k, v] : v_.as_table()) {
    if (allowed_.count(k)) continue;
    std::vector<std::string> allowed(allowed_.begin(), allowed_.end());
    throw Error(fmt::format("{}:{}: {}unknown key '{}' (allowed here: {})", file_, v.location().line(),
                            where_.empty() ? "" : where_ + ": ", k, fmt::join(allowed, ", ")));
  }
}

}  // namespace signet::eval
