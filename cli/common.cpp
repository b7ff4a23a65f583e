#include "cli/common.h"

#include <cstdio>
#include <iostream>

#include "datasets/dataloader.h"
#include "engine/thread_governor.h"

namespace signet::cli {

void set_threads(int n) {
  SIGNET_CHECK(n >= 0, "--threads must be >= 0, got {}", n);
  threads::configure(n);
}

int current_threads() { return threads::limit(); }

Dataset load_split(const std::string& name, const std::string& split, const std::string& data_dir) {
  return load_dataset(name, split, data_dir);
}

void print_json(const nlohmann::json& j) {
  std::cout << j.dump() << std::endl;
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
