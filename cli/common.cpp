#include "cli/common.h"

#include <omp.h>

#include <cstdio>
#include <iostream>

#include "datasets/dataloader.h"

namespace signet::cli {

void set_threads(int n) {
  SIGNET_CHECK(n >= 0, "--threads must be >= 0, got {}", n);
  if (n > 0) omp_set_num_threads(n);
}

int current_threads() { return omp_get_max_threads(); }

Dataset load_split(const std::string& name, const std::string& split, const std::string& data_dir) {
  return load_dataset(name, split, data_dir);
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

}  // namespace signet::cli
