// A one-line progress bar on stderr: done/total, loss, samples per second, ETA. On a terminal
// it redraws in place (at most ~10 times a second); otherwise it prints one line per finish()
// so logs stay readable.
#pragma once
#include <chrono>
#include <string>

namespace signet {

class ProgressBar {
 public:
  ProgressBar(std::string label, int64_t total, bool enabled);
  void update(int64_t done, double loss, int64_t samples);
  void finish(const std::string& summary);

 private:
  std::string label_;
  int64_t total_;
  bool enabled_, tty_;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace signet
