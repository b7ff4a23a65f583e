// IMDB reviews (aclImdb folders): the input is the options spec, then review files.
//   <spec after "imdb">\n<name>\x1f<text>\x1e<name>\x1f<text>\x1e...
// Record i goes to train/neg, train/pos, test/neg, test/pos in turn (i mod 4); the names are the
// fuzzer's too (the reader sorts by the number before '_'). Both splits are then loaded.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "datasets/imdb.h"
#include "tests/fuzz/fuzz_target.h"

namespace signet::fuzz {
namespace fs = std::filesystem;

namespace {
// One folder per process, emptied before every input and removed at exit.
struct ReviewRoot {
  fs::path path;
  ReviewRoot() {
    std::string tmpl = (fs::temp_directory_path() / "signet-fuzz-imdb-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  ~ReviewRoot() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

const fs::path& review_root() {
  static const ReviewRoot root;
  return root.path;
}

std::string file_name(std::string name, size_t i) {
  if (name.empty()) name = std::to_string(i) + "_7";
  if (name.size() > 40) name.resize(40);
  for (char& c : name)
    if (c == '/' || c == '\0') c = '_';
  if (name == "." || name == "..") name = "dot";
  return name + ".txt";
}
}  // namespace

bool fuzz_imdb(const std::string& input) {
  const size_t eol = input.find('\n');
  const std::string spec = input.substr(0, eol);
  try {
    parse_imdb_options(spec);
  } catch (const Error&) {
  }
  const fs::path& root = review_root();
  const char* dirs[] = {"train/neg", "train/pos", "test/neg", "test/pos"};
  fs::remove_all(root / "train");
  fs::remove_all(root / "test");
  for (const char* d : dirs) fs::create_directories(root / d);
  const std::string body = eol == std::string::npos ? std::string() : input.substr(eol + 1);
  size_t start = 0;
  for (size_t i = 0; i < 16 && start <= body.size(); ++i) {
    size_t end = body.find('\x1e', start);
    if (end == std::string::npos) end = body.size();
    const std::string record = body.substr(start, end - start);
    const size_t sep = record.find('\x1f');
    const std::string name = sep == std::string::npos ? std::string() : record.substr(0, sep);
    const std::string text = sep == std::string::npos ? record : record.substr(sep + 1);
    std::ofstream(root / dirs[i % 4] / file_name(name, i), std::ios::binary) << text;
    start = end + 1;
  }
  // Small options: the data, not the requested sizes, is what is under test here.
  const ImdbOptions opts{20, 16};
  try {
    load_imdb("train", root.string(), opts);
  } catch (const Error&) {
  }
  load_imdb("test", root.string(), opts);
  return true;
}

}  // namespace signet::fuzz

SIGNET_FUZZ_ENTRY(signet::fuzz::fuzz_imdb)
