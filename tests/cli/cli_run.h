// Runs the signet binary (SIGNET_BIN) as a user would, for the command-line tests: its exit
// status (128 + signal when it was killed, so a crash never passes as an error exit) and its
// output.
#pragma once
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <array>
#include <filesystem>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace signet::testing {

struct CliRun {
  int status;
  std::string output;
};

// `args` go to the shell after the binary; stderr is captured with stdout unless with_stderr is
// false (then it is dropped, so stdout can be parsed as JSON); `cwd` is where it runs ("" = here).
inline CliRun run_signet(const std::string& args, bool with_stderr = true, const std::string& cwd = "") {
  const std::string cmd = (cwd.empty() ? "" : "cd " + cwd + " && ") + std::string(SIGNET_BIN) + " " + args +
                          (with_stderr ? " 2>&1" : " 2>/dev/null");
  CliRun r{0, ""};
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return {-1, "popen failed: " + cmd};
  std::array<char, 4096> buf;
  while (size_t n = fread(buf.data(), 1, buf.size(), p)) r.output.append(buf.data(), n);
  const int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return r;
}

// The same with stdout and stderr apart (stderr through a temporary file), for tests of which
// stream a message goes to. `env` is put before the command ("NAME=value ..." or "").
struct CliRunSplit {
  int status;
  std::string out, err;
};
inline CliRunSplit run_signet_split(const std::string& args, const std::string& env = "") {
  char err_path[] = "/tmp/signet_cli_stderr_XXXXXX";
  const int fd = mkstemp(err_path);
  if (fd < 0) return {-1, "", "mkstemp failed"};
  close(fd);
  CliRunSplit s{0, "", ""};
  const std::string cmd = env + (env.empty() ? "" : " ") + std::string(SIGNET_BIN) + " " + args + " 2>" + err_path;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return {-1, "", "popen failed: " + cmd};
  std::array<char, 4096> buf;
  while (size_t n = fread(buf.data(), 1, buf.size(), p)) s.out.append(buf.data(), n);
  const int st = pclose(p);
  s.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  if (FILE* e = fopen(err_path, "r")) {
    while (size_t n = fread(buf.data(), 1, buf.size(), e)) s.err.append(buf.data(), n);
    fclose(e);
  }
  unlink(err_path);
  return s;
}

// A fresh directory for one test's files (prefix + the process id), removed with everything in it.
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& prefix)
      : path(std::filesystem::temp_directory_path() / (prefix + std::to_string(getpid()))) {
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& n) const { return (path / n).string(); }
};

// Runs a command that must succeed and print one JSON object on stdout (stderr dropped); a
// failure or non-JSON output fails the test and returns an empty object.
inline nlohmann::json run_signet_json(const std::string& args) {
  const CliRun r = run_signet(args, false);
  EXPECT_EQ(r.status, 0) << args << "\n" << r.output;
  try {
    return nlohmann::json::parse(r.output);
  } catch (const nlohmann::json::exception&) {
    ADD_FAILURE() << "not JSON: " << r.output;
    return nlohmann::json::object();
  }
}

}  // namespace signet::testing
