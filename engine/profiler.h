// Profile mode: time per op type and per layer, forward and backward (like `caffe time`).
//
// Off by default. While off, every hook is one relaxed atomic load and a branch. `enable()`
// turns it on for the calling thread only (ops run by other threads, e.g. a data-loader
// prefetch thread, are not counted; OpenMP workers inside a kernel are part of that kernel).
//
// What is measured (all wall-clock, steady_clock):
//   op, forward   the outermost op call (SIGNET_DISPATCH / OpScope) outside a backward pass.
//                 An op that calls other ops includes them (they are not counted again), so
//                 the op rows add up without double counting.
//   op, backward  one autograd node's backward function, by the node's op name, including the
//                 ops it calls; plus outermost ops run by the backward pass itself between
//                 nodes (gradient accumulation shows up as `add`).
//   layer         Module::operator(): forward time inclusive of its children. Backward time is
//                 the time of the nodes recorded while the layer (or a child) was the innermost
//                 running module: record() tags each node with that layer.
//   step          the time between step_begin() and step_end(); "% of step" divides by it;
//                 once a step is marked, only scopes that start inside steps are recorded.
//                 Time in no op (optimizer loops not wrapped in an OpScope, graph walking,
//                 layer glue code) is the difference, shown as "other".
#pragma once
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace signet::profiler {

namespace detail {
inline std::atomic<bool> g_on{false};
bool op_begin(const char* name);  // false when this thread is not the profiled one
void op_end();
bool node_begin(const std::string& op, int32_t layer);
void node_end();
bool pass_begin();
void pass_end();
bool layer_begin(const void* key, const std::string& path, const std::function<std::string()>& type);
void layer_end();
int32_t current_layer();
}  // namespace detail

inline bool enabled() { return detail::g_on.load(std::memory_order_relaxed); }

// Starts profiling on the calling thread with empty tables (a second enable() resets).
void enable();
void disable();  // keeps the tables for snapshot()
void reset();    // empties the tables

// Marks one training step (optional: without steps, "% of step" is of the profiled time).
// Once a step has been marked, only what runs inside steps is recorded, so a training loop
// can mark its steps and leave evaluation and data loading out of the tables. No-ops while
// profiling is off: a trainer may call them unconditionally.
void step_begin();
void step_end();

// The innermost running module's layer id (-1: none or profiling off); record() tags nodes.
inline int32_t current_layer() { return enabled() ? detail::current_layer() : -1; }

// Times a forward op (or any named region, e.g. the optimizer step) as described above.
class OpScope {
 public:
  explicit OpScope(const char* name) : on_(enabled() && detail::op_begin(name)) {}
  ~OpScope() { if (on_) detail::op_end(); }
  OpScope(const OpScope&) = delete;
  OpScope& operator=(const OpScope&) = delete;

 private:
  bool on_;
};

// One autograd node's backward function (engine/autograd.cpp).
class NodeScope {
 public:
  NodeScope(const std::string& op, int32_t layer) : on_(enabled() && detail::node_begin(op, layer)) {}
  ~NodeScope() { if (on_) detail::node_end(); }
  NodeScope(const NodeScope&) = delete;
  NodeScope& operator=(const NodeScope&) = delete;

 private:
  bool on_;
};

// A whole backward pass: ops run inside it count as backward.
class BackwardPassScope {
 public:
  BackwardPassScope() : on_(enabled() && detail::pass_begin()) {}
  ~BackwardPassScope() { if (on_) detail::pass_end(); }
  BackwardPassScope(const BackwardPassScope&) = delete;
  BackwardPassScope& operator=(const BackwardPassScope&) = delete;

 private:
  bool on_;
};

// One module's forward. `key` identifies the module (its address); `type` is called only the
// first time a module is seen while profiling.
class LayerScope {
 public:
  template <class TypeFn>
  LayerScope(const void* key, const std::string& path, TypeFn&& type)
      : on_(enabled() && detail::layer_begin(key, path, std::function<std::string()>(type))) {}
  ~LayerScope() { if (on_) detail::layer_end(); }
  LayerScope(const LayerScope&) = delete;
  LayerScope& operator=(const LayerScope&) = delete;

 private:
  bool on_;
};

struct Row {
  std::string name;          // op name, or layer path
  std::string type;          // layer: the module's type name; op: empty
  int depth = 0;             // layer nesting depth (0 = the model)
  double forward_ms = 0, backward_ms = 0;  // totals over the profiled steps
  int64_t forward_calls = 0, backward_calls = 0;
};

struct Profile {
  std::vector<Row> ops;     // sorted by forward + backward time, largest first
  std::vector<Row> layers;  // in first-call order (a pre-order walk of the model)
  int64_t steps = 0;        // completed step_begin/step_end pairs
  double total_ms = 0;      // sum of the steps' times (or enable-to-now without steps)
};

Profile snapshot();
// The `caffe time`-like table: per-step averages (totals / steps when steps > 0).
std::string format_profile(const Profile& p);
// snapshot() + format_profile() written to `out`: what `--profile` prints.
void print_profile(std::FILE* out = stderr);

}  // namespace signet::profiler
