// Small JSON files that hold keys (identities, certificates): bounded reads, typed fields and
// strict lowercase hex, each failure an Error naming the file; and a no-clobber atomic write.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace signet::json_file {

// The JSON object in `path`, read up to 64 KiB (a huge or endless file is refused unread).
// `what` names the kind of file in errors ("certificate").
nlohmann::json read_object(const std::string& path, const std::string& what);
// j[key] as a string; `where` (a path, or path + ": claim") prefixes errors.
const std::string& string_field(const nlohmann::json& j, const char* key, const std::string& where);
// j["version"] must be the integer 1.
void check_version(const nlohmann::json& j, const std::string& where);

std::string to_hex(const unsigned char* p, size_t n);  // lowercase
bool is_hex(const std::string& s, size_t nbytes);      // exactly 2*nbytes lowercase hex digits
// Decodes exactly `nbytes` bytes; Error naming `where` and `field` otherwise.
std::vector<unsigned char> from_hex(const std::string& s, size_t nbytes, const std::string& where,
                                    const std::string& field);

// Error unless nothing (not even a dangling symlink) is at `path`.
void refuse_if_exists(const std::string& path);
// write_file_atomic, but never replaces an existing file, even one that appears meanwhile:
// Error "already exists". `mode` is exact whatever the umask.
void write_new_file(const std::string& path, const std::string& bytes, unsigned mode);

}  // namespace signet::json_file
