#include "watermark/verify/json_file.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "engine/error.h"
#include "engine/serialize/atomic_file.h"
#include "engine/serialize/file_read.h"
#include "engine/serialize/untrusted_json.h"

namespace signet::json_file {
namespace {

using json = nlohmann::json;

int hex_val(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // canonical files use lowercase only
}

std::string parent_dir(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

bool exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;  // a dangling symlink counts: never write through it
}

}  // namespace

json read_object(const std::string& path, const std::string& what) {
  const std::string bytes = read_file(path, FileKind{what.c_str(), file_kind::kSmallJson.max_bytes});
  require_json_depth(bytes, path);
  json j = json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  SIGNET_CHECK(!j.is_discarded(), "{}: not a Signet {}: not valid JSON{}", path, what,
               bytes.empty() ? " (the file is empty)" : "");
  SIGNET_CHECK(j.is_object(), "{}: not a Signet {}: not a JSON object", path, what);
  return j;
}

const std::string& string_field(const json& j, const char* key, const std::string& where) {
  auto it = j.find(key);
  SIGNET_CHECK(it != j.end(), "{}: missing field '{}'", where, key);
  SIGNET_CHECK(it->is_string(), "{}: field '{}' must be a string, got {}", where, key, it->type_name());
  return it->get_ref<const std::string&>();
}

void check_version(const json& j, const std::string& where) {
  auto it = j.find("version");
  SIGNET_CHECK(it != j.end(), "{}: missing field 'version'", where);
  SIGNET_CHECK(it->is_number_integer() && *it == 1, "{}: unsupported version {} (this signet reads version 1)",
               where, it->dump());
}

std::string to_hex(const unsigned char* p, size_t n) {
  static const char* d = "0123456789abcdef";
  std::string s(2 * n, '0');
  for (size_t i = 0; i < n; ++i) s[2 * i] = d[p[i] >> 4], s[2 * i + 1] = d[p[i] & 15];
  return s;
}

bool is_hex(const std::string& s, size_t nbytes) {
  if (s.size() != 2 * nbytes) return false;
  for (char c : s)
    if (hex_val(c) < 0) return false;
  return true;
}

std::vector<unsigned char> from_hex(const std::string& s, size_t nbytes, const std::string& where,
                                    const std::string& field) {
  SIGNET_CHECK(is_hex(s, nbytes), "{}: '{}' must be {} lowercase hex digits ({} bytes), got {} characters",
               where, field, 2 * nbytes, nbytes, s.size());
  std::vector<unsigned char> out(nbytes);
  for (size_t i = 0; i < nbytes; ++i) out[i] = static_cast<unsigned char>(hex_val(s[2 * i]) * 16 + hex_val(s[2 * i + 1]));
  return out;
}

void refuse_if_exists(const std::string& path) {
  SIGNET_CHECK(!exists(path), "'{}' already exists; refusing to overwrite it (choose another name or move it away)",
               path);
}

void write_new_file(const std::string& path, const std::string& bytes, unsigned mode) {
  refuse_if_exists(path);
  struct stat st;  // say so plainly here rather than through the temporary's name
  const std::string dir = parent_dir(path);
  const bool found = ::stat(dir.c_str(), &st) == 0;
  SIGNET_CHECK(found && S_ISDIR(st.st_mode), "cannot write '{}': '{}' {}", path, dir,
               found ? "is not a directory" : fmt::format("cannot be used: {}", std::strerror(errno)));
  write_new_file_atomic(path, bytes, mode);
}

}  // namespace signet::json_file
