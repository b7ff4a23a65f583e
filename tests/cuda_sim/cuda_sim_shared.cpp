// cuda_sim: shared-memory storage per block and its checks (bounds, races between barriers).
#include <algorithm>
#include <cstring>
#include <sstream>

#include "tests/cuda_sim/cuda_sim_internal.h"

namespace cuda_sim::detail {
namespace {

// Shared memory is uninitialised in CUDA; all-ones bytes read back as NaN or -1, which a test
// notices sooner than zeros.
constexpr unsigned char kPoison = 0xFF;

void size_region(SharedRegion& r, std::size_t bytes) {
  r.bytes = bytes;
  r.storage.assign((bytes + sizeof(std::max_align_t) - 1) / sizeof(std::max_align_t) + 1, std::max_align_t{});
  r.shadow.assign((bytes + r.unit_bytes - 1) / r.unit_bytes, WordShadow{});
}

// A block's first use of a region gives it fresh (poisoned) contents; the shadow needs no reset
// because every block starts a new epoch.
SharedRegion* for_this_block(SharedRegion* r, LaunchRun& run) {
  if (r->block_serial != run.block_serial) {
    r->block_serial = run.block_serial;
    std::memset(r->storage.data(), kPoison, r->bytes);
  }
  return r;
}

std::string describe_array(const SharedRegion& r, const char* name, std::ptrdiff_t index) {
  std::ostringstream s;
  s << name << "[" << index << "]";
  if (r.dynamic) {
    s << " (dynamic shared memory)";
  } else {
    s << " (__shared__ " << r.name << " declared at " << r.file << ":" << r.line << ")";
  }
  return s.str();
}

// Whether the earlier access of `other` at its clock `other_clock` happens before the access
// `t` makes now, within one barrier epoch: only warp-level synchronisation can order them.
bool ordered(std::uint32_t other, std::uint32_t other_clock, const SimThread& t) {
  if (other == t.linear) return true;
  if (other / kWarpSize != t.warp) return false;
  return t.clock[other % kWarpSize] > other_clock;
}

[[noreturn]] void report_race(const LaunchRun& run, const SimThread& t, bool write, std::uint32_t other,
                              bool other_wrote, const SharedRegion& r, const char* name, std::ptrdiff_t index) {
  std::ostringstream s;
  s << "shared-memory race in " << describe_block(run) << " on " << describe_array(r, name, index) << ": "
    << describe_thread(t) << (write ? " writes" : " reads") << " it and " << describe_thread(run.threads[other])
    << (other_wrote ? " wrote" : " read")
    << " it before, with no __syncthreads between them (nor a __syncwarp or warp collective both took part in)";
  throw SimError(s.str());
}

}  // namespace

SharedRegion* static_region(const char* file, int line, int counter, const char* name, std::size_t elements,
                            std::size_t element_bytes) {
  running_thread("a __shared__ declaration");
  LaunchRun& run = *g_run;
  auto& slot = run.static_regions[{file, line, counter}];
  if (!slot || slot->bytes != elements * element_bytes || slot->unit_bytes != element_bytes) {
    slot = std::make_unique<SharedRegion>();
    slot->name = name;
    slot->file = file;
    slot->line = line;
    slot->unit_bytes = element_bytes;
    size_region(*slot, elements * element_bytes);
  }
  return for_this_block(slot.get(), run);
}

SharedRegion* dynamic_region() {
  running_thread("a dynamic shared-memory declaration");
  LaunchRun& run = *g_run;
  if (!run.dynamic_region) {
    run.dynamic_region = std::make_unique<SharedRegion>();
    run.dynamic_region->dynamic = true;
    run.dynamic_region->unit_bytes = 4;
    size_region(*run.dynamic_region, run.dynamic_bytes);
  }
  return for_this_block(run.dynamic_region.get(), run);
}

std::size_t region_bytes(const SharedRegion* region) { return region->bytes; }
unsigned char* region_data(SharedRegion* region) { return reinterpret_cast<unsigned char*>(region->storage.data()); }

void on_shared_access(SharedRegion* region, const char* name, std::ptrdiff_t index, std::size_t element_bytes,
                      bool write) {
  SimThread& t = running_thread("a shared-memory access");
  LaunchRun& run = *g_run;
  const SharedRegion& r = *region;
  std::size_t elements = r.bytes / element_bytes;
  if (index < 0 || static_cast<std::size_t>(index) >= elements) {
    std::ostringstream s;
    s << "out-of-range shared index in " << describe_block(run) << ": " << describe_thread(t)
      << (write ? " writes " : " reads ") << describe_array(r, name, index) << ", which has " << elements
      << " elements";
    throw SimError(s.str());
  }
  std::size_t first = index * element_bytes / r.unit_bytes;
  std::size_t last = ((index + 1) * element_bytes - 1) / r.unit_bytes;
  std::uint32_t clock = t.clock[t.lane];
  for (std::size_t u = first; u <= last; ++u) {
    WordShadow& w = region->shadow[u];
    if (w.epoch != run.epoch) {
      w.epoch = run.epoch;
      w.writer = -1;
      w.readers.clear();
    }
    if (w.writer >= 0 && !ordered(static_cast<std::uint32_t>(w.writer), w.writer_clock, t)) {
      report_race(run, t, write, static_cast<std::uint32_t>(w.writer), true, r, name, index);
    }
    if (write) {
      for (const auto& [reader, reader_clock] : w.readers) {
        if (!ordered(reader, reader_clock, t)) report_race(run, t, true, reader, false, r, name, index);
      }
      // Every earlier access is ordered before this write, so later ones need only check it.
      w.writer = static_cast<std::int32_t>(t.linear);
      w.writer_clock = clock;
      w.readers.clear();
    } else {
      // A repeated reader only needs its latest clock; a stale duplicate further back is
      // harmless (anything ordered after the later read is ordered after the earlier one), so
      // only the recent entries are searched and a word read by a whole block stays cheap.
      const std::size_t recent = std::min<std::size_t>(w.readers.size(), 4);
      auto mine = std::find_if(w.readers.rbegin(), w.readers.rbegin() + recent,
                               [&](const auto& e) { return e.first == t.linear; });
      if (mine != w.readers.rbegin() + recent) {
        mine->second = clock;
      } else {
        w.readers.emplace_back(t.linear, clock);
      }
    }
  }
}

}  // namespace cuda_sim::detail
