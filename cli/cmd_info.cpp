// `signet info FILE [--json]`: what is inside a safetensors file (ours or PyTorch's) —
// each tensor's stored dtype, shape, size and value range, the metadata, totals, and the
// file's SHA-256 so a report can pin exactly which model or key file it looked at. For a file
// without Signet metadata (a PyTorch state dict) it also says which model its tensors are, as
// the commands that read models would recognise it (models/model_recognition.h).
// `signet info --devices [--json]`: the backends this build has and the GPUs this process can use.
#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/printable.h"
#include "engine/cuda/runtime.h"
#include "engine/error.h"
#include "engine/serialize/atomic_file.h"
#include "engine/serialize/file_read.h"
#include "engine/serialize/safetensors.h"
#include "models/model_recognition.h"

namespace signet::cli {
namespace {

struct Stats {
  bool valid = false;  // float tensor with at least one non-NaN value
  double min = 0, max = 0, mean = 0;
  int64_t nans = 0;
};

// min/max skip NaNs (so one bad value does not hide the range); the mean does not.
Stats float_stats(const Tensor& t) {
  Stats s;
  if (t.dtype() != DType::F32 || t.numel() == 0) return s;
  const Tensor c = t.contiguous();
  const float* p = c.f32();
  double lo = std::numeric_limits<double>::infinity(), hi = -lo, sum = 0;
  for (int64_t i = 0; i < c.numel(); ++i) {
    const double v = p[i];
    sum += v;
    if (std::isnan(v)) { ++s.nans; continue; }
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  s.valid = s.nans < c.numel();
  s.min = lo;
  s.max = hi;
  s.mean = sum / static_cast<double>(c.numel());
  return s;
}

void run_info(const std::string& path, bool as_json) {
  const std::string bytes = read_file(path);
  const SafetensorsHeader header = parse_safetensors_header(bytes, path);
  const NamedTensors nt = decode_safetensors(bytes, path);
  const std::string sha = sha256_hex(bytes);
  // Signet's own files say what they are in their metadata; others are recognised from their tensors.
  const bool plain = !header.metadata.count("signet.format") && !header.metadata.count("signet.model");
  const std::string recognised = plain ? describe_recognised_model(nt) : "";

  struct Row {
    const SafetensorsEntry* e;
    int64_t numel;
    Stats st;
  };
  std::vector<Row> rows;
  int64_t total_params = 0;
  uint64_t total_bytes = 0;
  std::unordered_map<std::string, const Tensor*> by_name;  // NamedTensors::at is a linear scan
  for (const auto& [n, t] : nt.tensors) by_name.emplace(n, &t);
  for (const SafetensorsEntry& e : header.entries) {
    const Tensor& t = *by_name.at(e.name);
    rows.push_back({&e, t.numel(), float_stats(t)});
    total_params += t.numel();
    total_bytes += e.end - e.begin;
  }

  if (as_json) {
    using json = nlohmann::json;
    json tensors = json::array();
    for (const Row& r : rows) {
      json j = {{"name", r.e->name}, {"dtype", r.e->dtype}, {"shape", r.e->shape},
                {"numel", r.numel}, {"bytes", r.e->end - r.e->begin}};
      if (r.st.valid) {  // non-finite values become null in JSON
        j["min"] = r.st.min;
        j["max"] = r.st.max;
        j["mean"] = r.st.mean;
      }
      if (r.st.nans) j["nans"] = r.st.nans;
      tensors.push_back(std::move(j));
    }
    json out = {{"file", path},
                {"sha256", sha},
                {"file_bytes", bytes.size()},
                {"header_bytes", header.data_start - 8},
                {"tensors", std::move(tensors)},
                {"metadata", header.metadata},
                {"total_parameters", total_params},
                {"total_bytes", total_bytes}};
    if (plain) out["recognised_model"] = recognised;
    // A file name that is not UTF-8 prints with U+FFFD for its bad bytes.
    fmt::print("{}\n", out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
    return;
  }

  // Names and metadata come from the file: control characters print escaped (JSON escapes its own).
  fmt::print("file    {}\nsha256  {}\nsize    {} bytes (header {}, data {})\n\n",
             printable(path), sha, bytes.size(), header.data_start - 8, bytes.size() - header.data_start);
  // Columns sized to their widest cell so that long PyTorch names stay aligned.
  std::vector<std::vector<std::string>> cells = {{"name", "dtype", "shape", "numel", "min", "max", "mean"}};
  for (const Row& r : rows) {
    std::vector<std::string> c = {printable(r.e->name), printable(r.e->dtype), shape_str(r.e->shape),
                                  std::to_string(r.numel)};
    if (r.st.valid) {
      c.push_back(fmt::format("{:.6g}", r.st.min));
      c.push_back(fmt::format("{:.6g}", r.st.max));
      c.push_back(fmt::format("{:.6g}", r.st.mean) +
                  (r.st.nans ? fmt::format(" ({} NaN)", r.st.nans) : ""));
    }
    cells.push_back(std::move(c));
  }
  std::vector<size_t> width(7, 0);
  for (const auto& row : cells)
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  fmt::print("tensors ({}):\n", rows.size());
  for (const auto& row : cells) {
    std::string line = " ";
    for (size_t i = 0; i < row.size(); ++i)
      line += fmt::format(i >= 3 ? " {:>{}}" : " {:<{}}", row[i], width[i]);
    while (!line.empty() && line.back() == ' ') line.pop_back();
    fmt::print("{}\n", line);
  }
  fmt::print("\nmetadata ({}):\n", header.metadata.size());
  for (const auto& [k, v] : header.metadata) fmt::print("  {} = {}\n", printable(k), printable(v));
  fmt::print("\ntotal   {} parameters, {} bytes of tensor data\n", total_params, total_bytes);
  if (plain) fmt::print("model   {}\n", printable(recognised));
}

}  // namespace

// `signet info --devices`: the backends of this build and the GPUs this process can use.
void run_devices(bool json) {
  const cuda::CudaAvailability a = cuda::cuda_availability();
  if (json) {
    nlohmann::json gpus = nlohmann::json::array();
    for (const cuda::GpuInfo& g : a.gpus)
      gpus.push_back({{"device", Device::cuda(g.index).str()},
                      {"name", g.name},
                      {"compute_capability", fmt::format("{}.{}", g.major, g.minor)},
                      {"memory_bytes", g.memory_bytes},
                      {"multiprocessors", g.multiprocessors}});
    nlohmann::json j = {{"cpu", {{"device", "cpu"}, {"threads", current_threads()}}},
                        {"cuda_compiled", a.compiled},
                        {"cuda_runtime", a.runtime_version},
                        {"gpus", gpus}};
    if (a.gpus.empty()) j["why_no_gpu"] = a.why_none;
    print_json(j);
    return;
  }
  fmt::print("cpu      the CPU backend, {} threads\n", current_threads());
  fmt::print("cuda     {}\n", a.compiled ? "built (CUDA runtime " + a.runtime_version + ")" : "not built");
  for (const cuda::GpuInfo& g : a.gpus)
    fmt::print("{:<8} {} (compute capability {}.{}, {:.1f} GiB, {} SMs)\n", Device::cuda(g.index).str(), g.name,
               g.major, g.minor, static_cast<double>(g.memory_bytes) / (1 << 30), g.multiprocessors);
  if (a.gpus.empty()) fmt::print("no GPU: {}\n", a.why_none);
}

void register_info(CLI::App& app) {
  struct Opts {
    std::string file;
    bool json = false, devices = false;
  };
  auto opts = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand(
      "info", "Describe a safetensors file: tensors, value ranges, metadata, totals, SHA-256");
  sub->add_option("FILE", opts->file, "a .safetensors file (Signet's or PyTorch's)");
  sub->add_flag("--json", opts->json, "print one JSON object on stdout");
  sub->add_flag("--devices", opts->devices, "list the devices instead: the CPU, whether CUDA is built, the GPUs");
  sub->callback([opts] {
    if (opts->devices) {
      SIGNET_CHECK(opts->file.empty(), "info: give a FILE or --devices, not both");
      run_devices(opts->json);
      return;
    }
    SIGNET_CHECK(!opts->file.empty(), "info: FILE is required (a .safetensors file), or --devices");
    run_info(opts->file, opts->json);
  });
}

}  // namespace signet::cli
