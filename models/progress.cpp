#include "models/progress.h"

#include <unistd.h>

#include <cstdio>
#include <fmt/format.h>

namespace signet {

ProgressBar::ProgressBar(std::string label, int64_t total, bool enabled)
    : label_(std::move(label)), total_(total), enabled_(enabled), tty_(isatty(STDERR_FILENO)) {
  start_ = last_ = std::chrono::steady_clock::now();
}

void ProgressBar::update(int64_t done, double loss, int64_t samples) {
  if (!enabled_ || !tty_) return;
  const auto now = std::chrono::steady_clock::now();
  if (done < total_ && now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  const double secs = std::chrono::duration<double>(now - start_).count();
  const double rate = secs > 0 ? samples / secs : 0;
  const double eta = done > 0 ? secs * (total_ - done) / done : 0;
  const int width = 30;
  const int fill = total_ > 0 ? static_cast<int>(width * done / total_) : width;
  std::fprintf(stderr, "\r%s [%s%s] %lld/%lld loss %.4f  %.0f samples/s  ETA %.0fs   ", label_.c_str(),
               std::string(fill, '#').c_str(), std::string(width - fill, '.').c_str(),
               static_cast<long long>(done), static_cast<long long>(total_), loss, rate, eta);
  std::fflush(stderr);
}

void ProgressBar::finish(const std::string& summary) {
  if (!enabled_) return;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::fprintf(stderr, "%s%s %s (%.1fs)\n", tty_ ? "\r\033[K" : "", label_.c_str(), summary.c_str(), secs);
}

}  // namespace signet
