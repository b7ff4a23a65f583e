// Helpers shared by the subcommands: threads, data sets with their normalisation, JSON output.
#pragma once
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "datasets/dataset.h"
#include "models/model_io.h"
#include "models/recipes.h"

namespace signet::cli {

// --threads: n > 0 fixes the one OpenMP pool (which OpenBLAS shares) at n threads; 0 uses all
// cores, fewer while other processes keep them busy (engine/thread_governor.h).
void set_threads(int n);
// --device: "cpu" (the default), "cuda" or "cuda:N". Any other spelling, or a GPU this process
// cannot use, is an Error that says why; so is a usable GPU, until the commands run on one.
void add_device_flag(CLI::App* c, std::string& device);
// The --device value parsed, a GPU checked usable (an Error with the driver's reason otherwise).
Device usable_device(const std::string& device, const char* command);
int current_threads();

// Loads a data set split; the error names the --dataset / --data-dir flags.
Dataset load_split(const std::string& name, const std::string& split, const std::string& data_dir);
// `signet train`'s data shaping flags, bound to r's fields: --pad-to, --channels, --train-limit,
// --test-limit (load_recipe_data applies them; the subsets are seeded by r.cfg.seed).
void add_data_shape_flags(CLI::App* c, TrainRecipe& r);
// Prints one JSON object on stdout.
void print_json(const nlohmann::json& j);
// "C,H,W" -> shape; Error naming the flag.
Shape parse_shape_flag(const std::string& s, const std::string& flag);
// --input-shape, --input-mean, --input-std: what a command that reads a model file needs to know
// about files without Signet metadata (PyTorch state dicts) that neither the weights nor the
// data say. Empty: not given.
struct ModelFileFlags {
  std::string input_shape, input_mean, input_std;
};
void add_model_file_flags(CLI::App* c, ModelFileFlags& f);
// The hints for load_model: --model, the flags above, and the input shape of the data the command
// has (a data set's, an input tensor's, the keys'), named by data_from in messages.
ModelHints model_hints(const std::string& model, const ModelFileFlags& f, const Shape& data_shape = {},
                       const std::string& data_from = "");
// The shape of one example of a data set ({C, H, W}, or {L} for tokens).
Shape example_shape(const Dataset& ds);
// A file a command reads or writes, with the flag that named it (for messages). Empty paths are
// skipped, so optional flags can be listed unconditionally.
struct PathFlag {
  std::string flag, path;
};
// True when a and b name one file: the same file when both exist (hard and symbolic links too),
// else the same weakly canonical path.
bool same_file(const std::string& a, const std::string& b);
// Called before any work by every command that writes files: each output must differ from every
// input and from the other outputs, and its directory must exist and be writable, so that no
// input is overwritten and no long run ends without somewhere to put its result. Errors name the
// flags.
void check_output_paths(const std::vector<PathFlag>& inputs, const std::vector<PathFlag>& outputs);
// "a,b,c" -> {"a", "b", "c"} (empty items dropped): list-valued flags such as --layer.
std::vector<std::string> split_list(const std::string& s);

}  // namespace signet::cli
