#include "cli/common.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>

#include "datasets/dataloader.h"
#include "engine/cuda/runtime.h"
#include "engine/thread_governor.h"

namespace signet::cli {

void add_device_flag(CLI::App* c, std::string& device) {
  c->add_option("--device", device, "cpu, cuda or cuda:N (`signet info --devices` lists them)")->capture_default_str();
}

Device usable_device(const std::string& device, const char* command) {
  const Device d = parse_device(device);
  if (d.is_cuda()) cuda::require_usable(d, command);
  return d;
}

void set_threads(int n) {
  SIGNET_CHECK(n >= 0, "--threads must be >= 0, got {}", n);
  threads::configure(n);
}

int current_threads() { return threads::limit(); }

Dataset load_split(const std::string& name, const std::string& split, const std::string& data_dir) {
  return load_dataset(name, split, data_dir);
}

void add_data_shape_flags(CLI::App* c, TrainRecipe& r) {
  c->add_option("--pad-to", r.pad_to, "zero-pad images to SxS, centred (e.g. 32: Fashion-MNIST for wrn-*)");
  c->add_option("--channels", r.channels, "3: replicate grey images into RGB (0: keep)");
  c->add_option("--train-limit", r.train_limit, "train on a seeded random subset of this many samples (0: all)");
  c->add_option("--test-limit", r.test_limit, "test on a seeded random subset of this many samples (0: all)");
}

void print_json(const nlohmann::json& j) {
  // File names need not be UTF-8: bytes JSON cannot hold print as U+FFFD instead of throwing.
  std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::string item;
  for (char ch : s + ",") {
    if (ch == ',') {
      if (!item.empty()) out.push_back(item);
      item.clear();
    } else {
      item += ch;
    }
  }
  return out;
}

Shape parse_shape_flag(const std::string& s, const std::string& flag) {
  Shape out = split_shape(s, flag);
  SIGNET_CHECK(!out.empty(), "{} must be a comma-separated shape such as 1,28,28", flag);
  return out;
}

void add_model_file_flags(CLI::App* c, ModelFileFlags& f) {
  c->add_option("--input-shape", f.input_shape,
                "C,H,W (L for token models): input shape of a model file without Signet metadata (a PyTorch "
                "state dict), where its weights and the data do not fix it");
  c->add_option("--input-mean", f.input_mean,
                "per-channel mean (comma-separated) to normalise inputs with, for a model file without Signet "
                "metadata (default: none)");
  c->add_option("--input-std", f.input_std, "per-channel std, with --input-mean");
}

ModelHints model_hints(const std::string& model, const ModelFileFlags& f, const Shape& data_shape,
                       const std::string& data_from) {
  ModelHints h;
  h.model = model;
  if (!f.input_shape.empty()) h.input_shape.given = parse_shape_flag(f.input_shape, "--input-shape");
  h.norm.mean = split_floats(f.input_mean, "--input-mean");
  h.norm.stddev = split_floats(f.input_std, "--input-std");
  SIGNET_CHECK(h.norm.mean.size() == h.norm.stddev.size(), "give --input-mean and --input-std with one value per "
               "channel each ({} and {} given)", h.norm.mean.size(), h.norm.stddev.size());
  for (float s : h.norm.stddev) SIGNET_CHECK(s > 0, "--input-std values must be positive, got {}", s);
  h.input_shape.data = data_shape;
  if (!data_from.empty()) h.input_shape.data_from = data_from;
  return h;
}

bool same_file(const std::string& a, const std::string& b) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::equivalent(a, b, ec) && !ec) return true;
  // absolute() first: weakly_canonical leaves a relative path none of whose parts exist as it is.
  const fs::path ca = fs::weakly_canonical(fs::absolute(a, ec), ec);
  if (ec) return a == b;
  const fs::path cb = fs::weakly_canonical(fs::absolute(b, ec), ec);
  return ec ? a == b : ca == cb;
}

namespace {
void check_output_dir(const PathFlag& o) {
  namespace fs = std::filesystem;
  std::error_code ec;
  SIGNET_CHECK(!fs::is_directory(o.path, ec), "{} '{}' is a directory: give a file name", o.flag, o.path);
  fs::path dir = fs::path(o.path).parent_path();
  if (dir.empty()) dir = ".";
  SIGNET_CHECK(fs::is_directory(dir, ec), "{} '{}': directory '{}' does not exist; create it first", o.flag, o.path,
               dir.string());
  SIGNET_CHECK(access(dir.c_str(), W_OK | X_OK) == 0, "{} '{}': directory '{}' is not writable", o.flag, o.path,
               dir.string());
}
}  // namespace

void check_output_paths(const std::vector<PathFlag>& inputs, const std::vector<PathFlag>& outputs) {
  for (size_t i = 0; i < outputs.size(); ++i) {
    const PathFlag& o = outputs[i];
    if (o.path.empty()) continue;
    for (const PathFlag& in : inputs)
      SIGNET_CHECK(in.path.empty() || !same_file(o.path, in.path),
                   "{} '{}' is the same file as {} '{}': refusing to overwrite an input; write elsewhere", o.flag,
                   o.path, in.flag, in.path);
    for (size_t j = 0; j < i; ++j)
      SIGNET_CHECK(outputs[j].path.empty() || !same_file(o.path, outputs[j].path),
                   "{} and {} both name '{}': give each output its own file", outputs[j].flag, o.flag, o.path);
    check_output_dir(o);
  }
}

Shape example_shape(const Dataset& ds) {
  return Shape(ds.images.shape().begin() + 1, ds.images.shape().end());
}

}  // namespace signet::cli
