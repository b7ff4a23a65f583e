// JSON that comes from outside (safetensors headers, HTTP bodies, data set files, cached
// results). nlohmann's parser is iterative, but dump(), copies and comparisons recurse, so a
// value nested 100,000 deep overflows the stack the first time anything touches it. Every such
// text is checked with json_nesting_depth / require_json_depth before it is parsed, and error
// messages quote untrusted values through json_excerpt, never a whole dump().
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace signet {

// The deepest nesting of arrays and objects accepted in JSON read from outside. Signet's own
// files nest at most 3 deep (safetensors: header -> entry -> shape).
constexpr size_t kMaxJsonDepth = 64;

// The deepest nesting of [ and { in text, outside strings: an O(n) scan that needs no parse, so
// it is safe on any input (invalid JSON gives some number; the parse reports the error).
size_t json_nesting_depth(std::string_view text);
// Error "<src>: JSON nested deeper than 64 levels ..." when json_nesting_depth(text) > kMaxJsonDepth.
void require_json_depth(std::string_view text, const std::string& src);
// A value for an error message: scalars dumped and cut to max_chars, arrays and objects by
// their size ("an array of 3 items") rather than their contents.
std::string json_excerpt(const nlohmann::json& j, size_t max_chars = 60);

}  // namespace signet
