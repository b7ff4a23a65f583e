#include "engine/thread_governor.h"

#include <omp.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace signet::threads {
namespace {

using Clock = std::chrono::steady_clock;
// Long enough that the two /proc reads cost nothing next to the steps between them, short
// enough to follow a job that starts or stops within a second.
constexpr auto kInterval = std::chrono::milliseconds(250);

struct State {
  int limit = 0;
  bool adaptive = false;
  bool have_sample = false;
  Clock::time_point last;
  double machine_busy_s = 0, own_s = 0;  // CPU seconds at `last`
};
State& state() {
  static State s;
  return s;
}

// Busy CPU seconds of the whole machine since boot (all but idle and iowait; steal is time
// the hypervisor gave away, not work here), or a negative value when /proc/stat is unreadable.
double machine_busy_seconds() {
  std::FILE* f = std::fopen("/proc/stat", "r");
  if (!f) return -1;
  unsigned long long v[8] = {};
  const int got = std::fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                              &v[4], &v[5], &v[6], &v[7]);
  std::fclose(f);
  if (got < 5) return -1;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  return static_cast<double>(v[0] + v[1] + v[2] + v[5] + v[6]) / ticks;
}

double own_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + 1e-6 * static_cast<double>(t.tv_usec); };
  return s(u.ru_utime) + s(u.ru_stime);
}

bool adaptation_disabled_by_environment() {
  const char* v = std::getenv("SIGNET_ADAPTIVE_THREADS");
  return v != nullptr && std::strcmp(v, "0") == 0;
}

}  // namespace

int threads_for_load(int limit, double others_cores) {
  const double free_cores = static_cast<double>(limit) - std::max(0.0, others_cores);
  return std::clamp(static_cast<int>(std::lround(free_cores)), 1, std::max(1, limit));
}

static void set_limit(int n, bool adaptive) {
  State& s = state();
  static const int all_cores = omp_get_max_threads();  // before anyone lowers it
  s.limit = n > 0 ? n : all_cores;
  s.adaptive = adaptive && s.limit > 1;
  s.have_sample = false;
  omp_set_num_threads(s.limit);
}

void configure(int n) { set_limit(n, n == 0 && !adaptation_disabled_by_environment()); }
void configure_fixed(int n) { set_limit(n, false); }

int current() { return omp_get_max_threads(); }
int limit() { return state().limit > 0 ? state().limit : omp_get_max_threads(); }
bool adaptive() { return state().adaptive; }

void adapt() {
  State& s = state();
  if (!s.adaptive) return;
  const Clock::time_point now = Clock::now();
  if (s.have_sample && now - s.last < kInterval) return;
  const double busy = machine_busy_seconds(), own = own_cpu_seconds();
  if (busy < 0) {  // no /proc: keep the configured count
    s.adaptive = false;
    return;
  }
  if (s.have_sample) {
    const double wall = std::chrono::duration<double>(now - s.last).count();
    const double others = ((busy - s.machine_busy_s) - (own - s.own_s)) / wall;
    const int want = threads_for_load(s.limit, others);
    if (want != omp_get_max_threads()) omp_set_num_threads(want);
  }
  s.have_sample = true;
  s.last = now;
  s.machine_busy_s = busy;
  s.own_s = own;
}

}  // namespace signet::threads
