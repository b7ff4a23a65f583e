// Whole-file writing for models, checkpoints and keys, plus SHA-256 for recording what was read
// (reading is engine/serialize/file_read.h).
//
// write_file_atomic never leaves a half-written target: a reader (or a resumed run after a
// kill) sees either the old file or the new one. Keys are secrets, so the permission bits are
// set explicitly on the temporary before it becomes visible under the target's name.
#pragma once
#include <string>

namespace signet {

// Writes bytes to `path` atomically: a temporary in the same directory
// (path + ".tmp.<pid>.<random>"), fsync, rename over the target, fsync the directory.
// On failure the temporary is removed, the target is untouched, and Error names the path and
// the OS reason. `mode` is applied with fchmod, so the umask does not weaken or widen it.
// After a successful write, temporaries of this same pattern for this target whose writer is
// gone (a kill -9 mid-write leaves them) are removed: those whose pid no longer exists, or whose
// pid now belongs to a process started after the temporary was last written. Nothing else, and
// never a living writer's temporary, is touched.
void write_file_atomic(const std::string& path, const std::string& bytes, unsigned mode = 0644);
// The same, but `path` must not exist: the complete temporary is hard-linked to it (EEXIST is
// an Error saying the file exists), so a file that appears meanwhile is never replaced. For
// secrets that must not be overwritten (identities). The filesystem must support hard links.
void write_new_file_atomic(const std::string& path, const std::string& bytes, unsigned mode = 0644);

// SHA-256 (FIPS 180-4) of bytes, as 64 lowercase hex digits.
std::string sha256_hex(const std::string& bytes);

}  // namespace signet
