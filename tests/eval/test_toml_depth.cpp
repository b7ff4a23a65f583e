// Experiment configs nested absurdly deep: toml11 recurses through arrays, inline tables and
// dotted keys, so `x = [[[[...` or `a.a.a...a = 1` 100,000 deep overflowed the stack. parse_toml
// refuses more than 64 levels with the file and line, and still reads every ordinary config.
#include <gtest/gtest.h>

#include <string>

#include "engine/error.h"
#include "eval/toml_reader.h"

using signet::Error;
using signet::eval::parse_toml;

namespace {
std::string error_of(const std::string& text) {
  try {
    parse_toml(text, "c.toml");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}
std::string repeat(const std::string& s, int n) {
  std::string r;
  for (int i = 0; i < n; ++i) r += s;
  return r;
}
}  // namespace

TEST(TomlDepth, DeepNestingIsAnErrorNamingTheLine) {
  const int n = 100000;
  EXPECT_NE(error_of("name = \"x\"\nsizes = " + repeat("[", n) + repeat("]", n) + "\n").find("c.toml:2: arrays or "
                                                                                           "tables nested more than 64"),
            std::string::npos);
  EXPECT_NE(error_of("x = " + repeat("{a=", n) + "1" + repeat("}", n)).find("nested more than 64"), std::string::npos);
  EXPECT_NE(error_of("a" + repeat(".a", n) + " = 1\n").find("c.toml:1: a dotted key of more than 64 parts"),
            std::string::npos);
  EXPECT_NE(error_of("[a" + repeat(".a", n) + "]\n").find("dotted key"), std::string::npos);
  EXPECT_NE(error_of("x = {b = 1, a" + repeat(".a", 65) + " = 1}\n").find("dotted key"), std::string::npos);
}

TEST(TomlDepth, OrdinaryConfigsWithDotsAndBracketsInValuesStillParse) {
  // Floats, strings, comments and multi-line strings hold dots and brackets that are not nesting.
  std::string floats = "rates = [";
  for (int i = 0; i < 200; ++i) floats += (i ? ", " : "") + std::to_string(i) + ".5";
  const std::string text = floats + "]\n" +
                           "note = \"" + repeat("[.", 100) + "\\\"\"  # " + repeat("[{.", 100) + "\n" +
                           "lit = '" + repeat("[.", 100) + "'\n" +
                           "multi = \"\"\"\n" + repeat("[.{", 100) + "\n\"\"\"\n" +
                           "inline = {a.b.c = 1, d = [1.5, [2.5]]}\n" +
                           "[table.sub]\nkey.part = " + repeat("[", 60) + repeat("]", 60) + "\n";
  EXPECT_EQ(error_of(text), "");
  EXPECT_NO_THROW(parse_toml("x = " + repeat("[", 64) + repeat("]", 64) + "\n", "ok.toml"));
}

TEST(TomlDepth, QuotesInsideMultiLineStringsCannotHideNesting) {
  // A lone quote inside a multi-line string does not end it (TOML), so the scan must not think
  // a string is still open when toml11 goes on to parse brackets.
  const std::string deep = repeat("[", 2000) + repeat("]", 2000);
  EXPECT_NE(error_of("a = '''x'y'''\nb = " + deep + "\n").find("c.toml:2: arrays or tables nested"), std::string::npos);
  EXPECT_NE(error_of("a = \"\"\"x\"y\"\"\"\"\nb = " + deep + "\n").find("c.toml:2: arrays or tables nested"),
            std::string::npos);
  EXPECT_NE(error_of("a = \"x\\\"\"\nb = " + deep + "\n").find("c.toml:2: arrays or tables nested"), std::string::npos);
  // An unterminated one-line string ends at the line's end, as for toml11.
  EXPECT_NE(error_of("a = 'x\nb = " + deep + "\n").find("arrays or tables nested"), std::string::npos);
}
