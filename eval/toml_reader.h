// A strict reader over one TOML table (toml11): every getter names the key it reads, so that
// finish() can reject any other key, and every error names the file, the line, the table and
// the key and says what is allowed.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <toml.hpp>

namespace signet::eval {

class TomlTable {
 public:
  TomlTable(const toml::value& v, std::string file, std::string where);

  bool has(const std::string& key) const;
  std::string str(const std::string& key, const std::string& def, const std::vector<std::string>& allowed = {});
  std::string required_str(const std::string& key, const std::vector<std::string>& allowed = {});
  int64_t integer(const std::string& key, int64_t def, int64_t lo, int64_t hi);
  double number(const std::string& key, double def, double lo, double hi);  // integer or float
  bool boolean(const std::string& key, bool def);
  // A scalar or an array of them.
  std::vector<int64_t> integers(const std::string& key, const std::vector<int64_t>& def, int64_t lo, int64_t hi);
  std::vector<double> numbers(const std::string& key, const std::vector<double>& def, double lo, double hi);
  std::vector<std::string> strings(const std::string& key, const std::vector<std::string>& def,
                                   const std::vector<std::string>& allowed = {});
  // A table of scalars, values as text (numbers as written by fmt: 5, 0.5, true).
  std::map<std::string, std::string> scalars(const std::string& key, const std::vector<std::string>& allowed_keys);
  std::optional<TomlTable> table(const std::string& key);
  std::vector<TomlTable> tables(const std::string& key);  // array of tables ([[key]])

  // Error for any key not read by a getter above.
  void finish() const;
  [[noreturn]] void fail(const std::string& key, const std::string& msg) const;
  const std::string& file() const { return file_; }
  const std::string& where() const { return where_; }

 private:
  const toml::value* get(const std::string& key);  // marks the key as allowed; nullptr when absent
  std::string type_of(const toml::value& v) const;

  const toml::value& v_;
  std::string file_, where_;
  std::set<std::string> allowed_;
};

// Parses TOML text; syntax errors become signet::Error naming the file.
toml::value parse_toml(const std::string& text, const std::string& file);

}  // namespace signet::eval
