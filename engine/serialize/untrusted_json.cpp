#include "engine/serialize/untrusted_json.h"

#include <algorithm>

#include "engine/error.h"

namespace signet {

size_t json_nesting_depth(std::string_view text) {
  size_t depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char ch : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (ch == '\\') escaped = true;
      else if (ch == '"') in_string = false;
    } else if (ch == '"') {
      in_string = true;
    } else if (ch == '[' || ch == '{') {
      deepest = std::max(deepest, ++depth);
    } else if ((ch == ']' || ch == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

void require_json_depth(std::string_view text, const std::string& src) {
  const size_t d = json_nesting_depth(text);
  SIGNET_CHECK(d <= kMaxJsonDepth, "{}: JSON nested {} levels deep, more than the limit of {}: corrupt or hostile",
               src, d, kMaxJsonDepth);
}

std::string json_excerpt(const nlohmann::json& j, size_t max_chars) {
  if (j.is_array()) return fmt::format("an array of {} items", j.size());
  if (j.is_object()) return fmt::format("an object of {} entries", j.size());
  std::string s = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (s.size() > max_chars) {
    size_t cut = max_chars;
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;  // not inside a UTF-8 character
    s = s.substr(0, cut) + "...";
  }
  return s;
}

}  // namespace signet
