#include "engine/profiler.h"

#include <algorithm>
#include <chrono>
#include <unordered_map>

#include <fmt/format.h>

namespace signet::profiler {

namespace {
using Clock = std::chrono::steady_clock;

double ns_since(Clock::time_point t0) { return std::chrono::duration<double, std::nano>(Clock::now() - t0).count(); }

struct Stat {
  double fwd_ns = 0, bwd_ns = 0;
  int64_t fwd_calls = 0, bwd_calls = 0;
};
struct OpEntry {
  std::string name;
  Stat s;
};
struct LayerEntry {
  std::string path, type;
  int32_t parent = -1;
  int depth = 0;
  Stat s;
};

// Written only by the profiled thread (tl_owner); snapshot() is meant to be called from it too.
struct State {
  std::unordered_map<std::string, int32_t> op_ids;
  std::vector<OpEntry> ops;
  std::unordered_map<const void*, int32_t> layer_ids;
  std::vector<LayerEntry> layers;
  std::vector<std::pair<int32_t, Clock::time_point>> layer_stack;
  // The outermost running op or node; nested ones only move the depth.
  int op_depth = 0;
  int32_t cur_op = -1, cur_node_layer = -1;
  bool cur_backward = false;
  Clock::time_point op_start;
  int pass_depth = 0;
  Clock::time_point enabled_at, disabled_at, step_start;
  bool in_step = false, steps_marked = false;
  int64_t steps = 0;
  double step_ns = 0;
};

State& state() {
  static State* s = new State();  // never destroyed: hooks may run during static destruction
  return *s;
}
thread_local bool tl_owner = false;

// Whether a scope starting now is recorded: on the profiled thread, and once steps are marked
// only inside a step (a trainer's evaluation passes and data loading stay out of the tables).
bool recording() {
  if (!tl_owner) return false;
  const State& st = state();
  return !st.steps_marked || st.in_step;
}

int32_t op_id(State& st, const std::string& name) {
  auto it = st.op_ids.find(name);
  if (it != st.op_ids.end()) return it->second;
  const auto id = static_cast<int32_t>(st.ops.size());
  st.ops.push_back({name, {}});
  st.op_ids.emplace(name, id);
  return id;
}
}  // namespace

namespace detail {

bool op_begin(const char* name) {
  if (!recording()) return false;
  State& st = state();
  if (st.op_depth++ > 0) return true;
  st.cur_op = op_id(st, name);
  st.cur_backward = st.pass_depth > 0;
  st.cur_node_layer = -1;  // a forward op's time reaches its layer through LayerScope
  st.op_start = Clock::now();
  return true;
}

bool node_begin(const std::string& op, int32_t layer) {
  if (!recording()) return false;
  State& st = state();
  if (st.op_depth++ > 0) return true;
  st.cur_op = op_id(st, op);
  st.cur_backward = true;
  st.cur_node_layer = layer < static_cast<int32_t>(st.layers.size()) ? layer : -1;
  st.op_start = Clock::now();
  return true;
}

static void close_op() {
  State& st = state();
  if (st.op_depth <= 0) return;  // opened before a reset()
  if (--st.op_depth > 0) return;
  const double dt = ns_since(st.op_start);
  Stat& s = st.ops[st.cur_op].s;
  if (!st.cur_backward) {
    s.fwd_ns += dt;
    ++s.fwd_calls;
    return;
  }
  s.bwd_ns += dt;
  ++s.bwd_calls;
  // A node's backward counts for the layer that recorded it and every enclosing layer, so a
  // block's row includes its convolutions' backward as its forward includes their forward.
  for (int32_t l = st.cur_node_layer; l >= 0; l = st.layers[l].parent) {
    st.layers[l].s.bwd_ns += dt;
    ++st.layers[l].s.bwd_calls;
  }
}
void op_end() { close_op(); }
void node_end() { close_op(); }

bool pass_begin() {
  if (!recording()) return false;
  ++state().pass_depth;
  return true;
}
void pass_end() {
  if (state().pass_depth > 0) --state().pass_depth;
}

bool layer_begin(const void* key, const std::string& path, const std::function<std::string()>& type) {
  if (!recording()) return false;
  State& st = state();
  auto it = st.layer_ids.find(key);
  int32_t id;
  if (it != st.layer_ids.end()) {
    id = it->second;
  } else {
    id = static_cast<int32_t>(st.layers.size());
    LayerEntry e;
    e.path = path;
    e.type = type();
    e.parent = st.layer_stack.empty() ? -1 : st.layer_stack.back().first;
    e.depth = e.parent < 0 ? 0 : st.layers[e.parent].depth + 1;
    st.layers.push_back(std::move(e));
    st.layer_ids.emplace(key, id);
  }
  ++st.layers[id].s.fwd_calls;
  st.layer_stack.emplace_back(id, Clock::now());
  return true;
}

void layer_end() {
  State& st = state();
  if (st.layer_stack.empty()) return;  // opened before a reset()
  const auto [id, t0] = st.layer_stack.back();
  st.layer_stack.pop_back();
  st.layers[id].s.fwd_ns += ns_since(t0);
}

int32_t current_layer() {
  if (!tl_owner) return -1;
  const State& st = state();
  return st.layer_stack.empty() ? -1 : st.layer_stack.back().first;
}

}  // namespace detail

void reset() {
  // Scopes still open when the tables are emptied end harmlessly (see the guards above).
  State& st = state();
  st = State();
  st.enabled_at = Clock::now();
}

void enable() {
  reset();
  tl_owner = true;
  detail::g_on.store(true, std::memory_order_relaxed);
}

void disable() {
  detail::g_on.store(false, std::memory_order_relaxed);
  tl_owner = false;
  state().disabled_at = Clock::now();
}

void step_begin() {
  if (!enabled() || !tl_owner) return;
  state().step_start = Clock::now();
  state().in_step = true;
  state().steps_marked = true;
}

void step_end() {
  if (!enabled() || !tl_owner || !state().in_step) return;
  State& st = state();
  st.step_ns += ns_since(st.step_start);
  ++st.steps;
  st.in_step = false;
}

Profile snapshot() {
  const State& st = state();
  Profile p;
  auto row = [](const std::string& name, const std::string& type, int depth, const Stat& s) {
    return Row{name, type, depth, s.fwd_ns * 1e-6, s.bwd_ns * 1e-6, s.fwd_calls, s.bwd_calls};
  };
  for (const OpEntry& e : st.ops) p.ops.push_back(row(e.name, "", 0, e.s));
  std::stable_sort(p.ops.begin(), p.ops.end(), [](const Row& a, const Row& b) {
    return a.forward_ms + a.backward_ms > b.forward_ms + b.backward_ms;
  });
  for (const LayerEntry& e : st.layers) p.layers.push_back(row(e.path, e.type, e.depth, e.s));
  p.steps = st.steps;
  if (st.steps > 0) {
    p.total_ms = st.step_ns * 1e-6;
  } else {
    const auto end = enabled() ? Clock::now() : st.disabled_at;
    p.total_ms = std::max(0.0, std::chrono::duration<double, std::milli>(end - st.enabled_at).count());
  }
  return p;
}

namespace {
std::string calls_str(int64_t calls, int64_t div) {
  if (calls % div == 0) return fmt::format("{}", calls / div);
  return fmt::format("{:.1f}", double(calls) / div);
}
}  // namespace

std::string format_profile(const Profile& p) {
  const int64_t div = std::max<int64_t>(p.steps, 1);
  const double step = p.total_ms / div;
  double fwd = 0, bwd = 0;
  for (const Row& r : p.ops) {
    fwd += r.forward_ms / div;
    bwd += r.backward_ms / div;
  }
  auto pct = [&](double ms) { return step > 0 ? 100.0 * ms / step : 0.0; };
  std::string out;
  out += fmt::format("Profile: {} per {}: {:.3f} ms; in ops: forward {:.3f} ms, backward {:.3f} ms, other {:.3f} ms\n",
                     p.steps > 0 ? fmt::format("average of {} steps", p.steps) : std::string("no steps marked, total"),
                     p.steps > 0 ? "step" : "run", step, fwd, bwd, step - fwd - bwd);
  out += fmt::format("\n{:<34} {:>10} {:>10} {:>9} {:>9} {:>7}\n", "op type", "fwd ms", "bwd ms", "fwd calls",
                     "bwd calls", "% step");
  for (const Row& r : p.ops) {
    const double f = r.forward_ms / div, b = r.backward_ms / div;
    out += fmt::format("{:<34} {:>10.3f} {:>10.3f} {:>9} {:>9} {:>7.1f}\n", r.name, f, b,
                       calls_str(r.forward_calls, div), calls_str(r.backward_calls, div), pct(f + b));
  }
  out += fmt::format("{:<34} {:>10} {:>10} {:>9} {:>9} {:>7.1f}\n", "(other: outside any op)", "", "", "", "",
                     pct(step - fwd - bwd));
  if (!p.layers.empty()) {
    out += fmt::format("\n{:<48} {:>10} {:>10} {:>9} {:>9} {:>7}\n",
                       "layer (type; a row includes the rows below it)", "fwd ms", "bwd ms", "fwd calls", "bwd nodes",
                       "% step");
    for (const Row& r : p.layers) {
      const std::string name =
          std::string(2 * static_cast<size_t>(r.depth), ' ') + (r.name.empty() ? "(model)" : r.name) + " (" + r.type + ")";
      const double f = r.forward_ms / div, b = r.backward_ms / div;
      out += fmt::format("{:<48} {:>10.3f} {:>10.3f} {:>9} {:>9} {:>7.1f}\n", name, f, b,
                         calls_str(r.forward_calls, div), calls_str(r.backward_calls, div), pct(f + b));
    }
  }
  return out;
}

void print_profile(std::FILE* out) {
  const std::string s = format_profile(snapshot());
  std::fwrite(s.data(), 1, s.size(), out);
  std::fflush(out);
}

}  // namespace signet::profiler
