// Helpers shared by the subcommands: threads, data sets with their normalisation, JSON output.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "datasets/dataset.h"
#include "models/model_io.h"

namespace signet::cli {

// --threads: n > 0 fixes the one OpenMP pool (which OpenBLAS shares) at n threads; 0 uses all
// cores, fewer while other processes keep them busy (engine/thread_governor.h).
void set_threads(int n);
int current_threads();

// Loads a data set split; the error names the --dataset / --data-dir flags.
Dataset load_split(const std::string& name, const std::string& split, const std::string& data_dir);
// Prints one JSON object on stdout.
void print_json(const nlohmann::json& j);
// "C,H,W" -> shape; Error naming the flag.
Shape parse_shape_flag(const std::string& s, const std::string& flag);
// "a,b,c" -> {"a", "b", "c"} (empty items dropped): list-valued flags such as --layer.
std::vector<std::string> split_list(const std::string& s);

}  // namespace signet::cli
