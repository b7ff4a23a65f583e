// `signet --version` names the version, the commit and the build's options, the same in text
// and JSON; the man page generated at build time (next to the binary) has every subcommand.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "tests/cli/cli_run.h"

namespace fs = std::filesystem;
using json = nlohmann::json;
using signet::testing::CliRunSplit;
using signet::testing::run_signet_split;

namespace {
// "name  value" lines of the text form.
std::string field(const std::string& text, const std::string& name) {
  std::smatch m;
  return std::regex_search(text, m, std::regex("\\n" + name + " +([^\\n]*)")) ? m[1].str() : "<missing>";
}
}  // namespace

TEST(CliVersion, TextAndJsonNameTheSameBuild) {
  const CliRunSplit text = run_signet_split("--version");
  ASSERT_EQ(text.status, 0) << text.err;
  const CliRunSplit js = run_signet_split("--version --json");
  ASSERT_EQ(js.status, 0) << js.err;
  const json j = json::parse(js.out);
  EXPECT_EQ(text.out.substr(0, text.out.find('\n')), "signet " + j.at("version").get<std::string>());
  EXPECT_TRUE(std::regex_match(j.at("version").get<std::string>(), std::regex("[0-9]+\\.[0-9]+\\.[0-9]+")));
  const std::string commit = j.at("commit");
  EXPECT_TRUE(commit == "unknown" || std::regex_match(commit, std::regex("[0-9a-f]{40}"))) << commit;
  EXPECT_EQ(field(text.out, "commit"), commit + (j.at("dirty").get<bool>() ? "-dirty" : ""));
  EXPECT_EQ(field(text.out, "build type"), j.at("build_type").get<std::string>());
  EXPECT_EQ(field(text.out, "sanitizer"), j.at("sanitizer").get<std::string>());
  EXPECT_EQ(field(text.out, "compiler"), j.at("compiler").get<std::string>());
  const std::string kernels = j.at("kernels");
  const auto& isa = j.at("isa");
  const bool avx512 = std::find(isa.begin(), isa.end(), "avx512f") != isa.end();
  EXPECT_EQ(kernels, avx512 ? "avx512" : "openblas");
  EXPECT_EQ(field(text.out, "kernels").rfind(avx512 ? "AVX-512" : "OpenBLAS", 0), 0u) << text.out;
  EXPECT_TRUE(j.at("cuda_toolkit").is_boolean());
  EXPECT_EQ(field(text.out, "cuda").rfind(j.at("cuda_toolkit").get<bool>() ? "toolkit found" : "toolkit not found", 0),
            0u);
}

TEST(CliVersion, ManPageHasEverySubcommand) {
  const CliRunSplit help = run_signet_split("--help");
  ASSERT_EQ(help.status, 0);
  std::vector<std::string> commands;
  std::istringstream lines(help.out.substr(help.out.find("\nSubcommands:\n") + 14));
  for (std::string line; std::getline(lines, line) && !line.empty();) {
    std::smatch m;
    if (std::regex_match(line, m, std::regex("  ([a-z][a-z0-9-]*) .*"))) commands.push_back(m[1]);
  }
  ASSERT_GE(commands.size(), 10u) << help.out;
  const fs::path page = fs::path(SIGNET_BIN).parent_path() / "signet.1";
  std::ifstream in(page);
  ASSERT_TRUE(in) << page << " is written when signet is built";
  const std::string roff((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string version = run_signet_split("--version").out;
  EXPECT_NE(roff.find(".TH SIGNET 1 \"\" \"" + version.substr(0, version.find('\n')) + "\""), std::string::npos);
  for (const std::string& c : commands)
    EXPECT_NE(roff.find(".SS \"signet " + c + "\""), std::string::npos) << "no section for " << c;
  EXPECT_NE(roff.find(".SS \"signet identity new\""), std::string::npos);
  EXPECT_NE(roff.find(".SH \"EXIT STATUS\""), std::string::npos);
}
