// IMDB reviews as token sequences: see imdb.h for the layout, tokenizer and vocabulary rules.
//
// Loading interns tokens: each distinct token gets a provisional id while the train split is
// counted, and documents are kept as provisional ids (4 bytes a token instead of a string), then
// remapped to vocabulary ids once the vocabulary is known.
#include "datasets/imdb.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <limits>

#include "engine/serialize/file_read.h"

namespace signet {

namespace {

const char* kHowToGet =
    "download https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz, unpack it (tar "
    "xzf) and give the folder aclImdb (or the folder that holds it) as the data dir";

bool is_dir(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

inline bool word_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

inline char lower(char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; }

// A "<br />" tag (also "<br/>", "<br>", "<BR />") starting at i: returns the index after '>', or
// 0 when there is no tag at i.
size_t br_tag_end(const std::string& t, size_t i) {
  if (i + 2 >= t.size() || t[i] != '<' || lower(t[i + 1]) != 'b' || lower(t[i + 2]) != 'r')
    return 0;
  size_t j = i + 3;
  while (j < t.size() && t[j] == ' ') ++j;
  if (j < t.size() && t[j] == '/') ++j;
  return j < t.size() && t[j] == '>' ? j + 1 : 0;
}

// Calls f(token) for each token of text (the rules of tokenize()).
template <class F>
void for_each_token(const std::string& text, F&& f) {
  std::string cur;
  const size_t n = text.size();
  for (size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (word_char(c)) {
      cur.push_back(lower(char(c)));
      continue;
    }
    if (c == '\'' && !cur.empty() && i + 1 < n && word_char(static_cast<unsigned char>(text[i + 1]))) {
      cur.push_back('\'');
      continue;
    }
    if (c == '<') {
      if (const size_t e = br_tag_end(text, i)) i = e - 1;
    }
    if (!cur.empty()) {
      f(cur);
      cur.clear();
    }
  }
  if (!cur.empty()) f(cur);
}

// Writes exactly max_len ids: pre-padding with 0, pre-truncation (keeps the last tokens).
template <class Id>
void fill_sequence(int64_t n_tokens, Id&& id_of, int64_t max_len, int64_t* out) {
  const int64_t start = std::max<int64_t>(0, n_tokens - max_len);
  const int64_t pad = std::max<int64_t>(0, max_len - n_tokens);
  std::fill(out, out + pad, Vocabulary::kPad);
  for (int64_t j = 0; pad + j < max_len; ++j) out[pad + j] = id_of(start + j);
}

// Provisional ids and counts of every distinct token seen.
struct Interner {
  std::unordered_map<std::string, int32_t> pid;
  std::vector<int64_t> count;
  int32_t add(const std::string& tok) {
    auto it = pid.find(tok);
    if (it == pid.end()) {
      it = pid.emplace(tok, static_cast<int32_t>(count.size())).first;
      count.push_back(0);
    }
    ++count[static_cast<size_t>(it->second)];
    return it->second;
  }
};

Vocabulary vocabulary_from(const Interner& in, int64_t max_words) {
  std::vector<std::pair<int64_t, const std::string*>> ranked;
  ranked.reserve(in.pid.size());
  for (const auto& kv : in.pid) ranked.emplace_back(in.count[static_cast<size_t>(kv.second)], &kv.first);
  const auto better = [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : *a.second < *b.second;
  };
  const size_t k = std::min(ranked.size(), static_cast<size_t>(std::max<int64_t>(0, max_words)));
  std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(k), ranked.end(), better);
  Vocabulary v;
  v.words.reserve(k);
  for (size_t r = 0; r < k; ++r) {
    v.words.push_back(*ranked[r].second);
    v.index.emplace(v.words.back(), static_cast<int64_t>(r) + Vocabulary::kFirst);
  }
  return v;
}

uint64_t numeric_prefix(const std::string& name) {
  uint64_t v = 0;
  size_t i = 0;
  for (; i < name.size() && i < 18 && name[i] >= '0' && name[i] <= '9'; ++i) v = v * 10 + uint64_t(name[i] - '0');
  return i > 0 ? v : std::numeric_limits<uint64_t>::max();
}

// The *.txt files of dir, sorted by numeric id then name. Throws Error if none.
std::vector<std::string> list_reviews(const std::string& dir) {
  if (!is_dir(dir))
    throw Error(fmt::format("dataset 'imdb': missing folder '{}'; the aclImdb layout is "
                            "{{train,test}}/{{pos,neg}}/*.txt; {}", dir, kHowToGet));
  std::vector<std::pair<uint64_t, std::string>> files;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".txt") == 0 &&
        it->is_regular_file(ec))
      files.emplace_back(numeric_prefix(name), name);
  }
  if (ec) throw Error(fmt::format("dataset 'imdb': cannot list '{}': {}", dir, ec.message()));
  if (files.empty())
    throw Error(fmt::format("dataset 'imdb': no review files (*.txt) in '{}'; {}", dir, kHowToGet));
  std::sort(files.begin(), files.end());
  std::vector<std::string> out;
  out.reserve(files.size());
  for (auto& f : files) out.push_back(dir + "/" + f.second);
  return out;
}

std::string read_review(const std::string& path) {
  const std::vector<uint8_t> b = read_file_bytes(path, file_kind::kReview);
  // An empty file has no data pointer, and memchr must not be given a null one.
  if (!b.empty() && std::memchr(b.data(), 0, b.size()) != nullptr)
    throw Error(fmt::format("dataset 'imdb': '{}' holds a NUL byte, so it is not a text review; "
                            "the file is damaged: unpack aclImdb_v1.tar.gz again", path));
  return std::string(b.begin(), b.end());
}

int64_t parse_field(const std::string& field, const std::string& what, const std::string& spec,
                    int64_t def, int64_t min) {
  if (field.empty()) return def;
  int64_t v = 0;
  bool ok = field.size() <= 12;
  for (char c : field) ok = ok && c >= '0' && c <= '9';
  if (ok) v = std::stoll(field);
  if (!ok || v < min)
    throw Error(fmt::format("dataset 'imdb:{}': {} '{}' must be an integer >= {} (the form is "
                            "imdb:WORDS:LEN, e.g. imdb:5000:500)",
                            spec, what, field, min));
  return v;
}

}  // namespace

ImdbOptions parse_imdb_options(const std::string& opts) {
  ImdbOptions o;
  if (opts.empty()) return o;
  const size_t c = opts.find(':');
  if (c != std::string::npos && opts.find(':', c + 1) != std::string::npos)
    throw Error(fmt::format("dataset 'imdb:{}': too many fields; the form is imdb:WORDS:LEN, e.g. "
                            "imdb:5000:500", opts));
  o.words = parse_field(opts.substr(0, c), "WORDS", opts, o.words, 0);
  if (c != std::string::npos) o.max_len = parse_field(opts.substr(c + 1), "LEN", opts, o.max_len, 1);
  SIGNET_CHECK(o.max_len <= kMaxSampleElements, "dataset 'imdb:{}': LEN {} is more than {} tokens, the limit for one "
               "input sample", opts, o.max_len, kMaxSampleElements);
  return o;
}

std::vector<std::string> tokenize(const std::string& text) {
  std::vector<std::string> out;
  for_each_token(text, [&](const std::string& t) { out.push_back(t); });
  return out;
}

int64_t Vocabulary::id(const std::string& token) const {
  const auto it = index.find(token);
  return it == index.end() ? kOov : it->second;
}

std::vector<std::string> Vocabulary::id_to_token() const {
  std::vector<std::string> v{"<pad>", "<oov>"};
  v.insert(v.end(), words.begin(), words.end());
  return v;
}

Vocabulary build_vocabulary(const std::vector<std::vector<std::string>>& docs, int64_t max_words) {
  Interner in;
  for (const auto& d : docs)
    for (const auto& t : d) in.add(t);
  return vocabulary_from(in, max_words);
}

std::vector<int64_t> encode(const std::vector<std::string>& tokens, const Vocabulary& vocab,
                            int64_t max_len) {
  SIGNET_CHECK(max_len >= 1, "imdb encode: max_len must be >= 1, got {}", max_len);
  std::vector<int64_t> out(static_cast<size_t>(max_len));
  fill_sequence(static_cast<int64_t>(tokens.size()),
                [&](int64_t j) { return vocab.id(tokens[static_cast<size_t>(j)]); }, max_len,
                out.data());
  return out;
}

std::string find_imdb_dir(const std::string& data_dir) {
  if (data_dir.empty())
    throw Error(fmt::format("dataset 'imdb' has no default location: {}", kHowToGet));
  std::string dir = data_dir;
  if (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  for (const std::string& cand : {dir, dir + "/aclImdb"})
    if (is_dir(cand + "/train/pos") || is_dir(cand + "/test/pos")) return cand;
  throw Error(fmt::format("dataset 'imdb': '{}' is not an aclImdb folder (no train/pos or test/pos "
                          "in it or in '{}/aclImdb'); {}",
                          dir, dir, kHowToGet));
}

Dataset load_imdb(const std::string& split, const std::string& data_dir, const ImdbOptions& opts) {
  if (split != "train" && split != "test")
    throw Error(fmt::format("unknown split '{}' for dataset imdb: use 'train' or 'test'", split));
  SIGNET_CHECK(opts.words >= 0 && opts.max_len >= 1,
               "dataset 'imdb': words must be >= 0 and max_len >= 1, got {} and {}", opts.words,
               opts.max_len);
  const std::string root = find_imdb_dir(data_dir);
  const bool train = split == "train";
  // Count the train split (keeping its documents when they are the ones asked for).
  Interner in;
  std::vector<std::vector<int32_t>> train_docs;
  std::vector<int64_t> labels;
  for (const char* cls : {"neg", "pos"}) {
    for (const auto& path : list_reviews(root + "/train/" + cls)) {
      const std::string text = read_review(path);
      std::vector<int32_t> doc;
      for_each_token(text, [&](const std::string& t) { doc.push_back(in.add(t)); });
      if (train) {
        train_docs.push_back(std::move(doc));
        labels.push_back(cls[0] == 'p' ? 1 : 0);
      }
    }
  }
  Vocabulary vocab = vocabulary_from(in, opts.words);

  Dataset ds;
  ds.name = "imdb";
  ds.num_classes = 2;
  ds.vocab_size = vocab.size();
  ds.vocab = vocab.id_to_token();
  const int64_t L = opts.max_len;
  if (train) {
    std::vector<int64_t> remap(in.count.size(), Vocabulary::kOov);
    for (const auto& kv : in.pid) remap[static_cast<size_t>(kv.second)] = vocab.id(kv.first);
    const auto n = static_cast<int64_t>(train_docs.size());
    ds.images = Tensor::empty({n, L}, DType::I64);
    for (int64_t i = 0; i < n; ++i) {
      const auto& d = train_docs[static_cast<size_t>(i)];
      fill_sequence(static_cast<int64_t>(d.size()),
                    [&](int64_t j) { return remap[static_cast<size_t>(d[static_cast<size_t>(j)])]; },
                    L, ds.images.i64() + i * L);
    }
  } else {
    in = Interner{};  // free the counts before reading the test texts
    std::vector<std::string> paths;
    for (const char* cls : {"neg", "pos"}) {
      const std::vector<std::string> files = list_reviews(root + "/test/" + cls);
      paths.insert(paths.end(), files.begin(), files.end());
      labels.insert(labels.end(), files.size(), cls[0] == 'p' ? 1 : 0);
    }
    const auto n = static_cast<int64_t>(paths.size());
    ds.images = Tensor::empty({n, L}, DType::I64);
    for (int64_t i = 0; i < n; ++i) {
      const std::vector<std::string> toks = tokenize(read_review(paths[static_cast<size_t>(i)]));
      fill_sequence(static_cast<int64_t>(toks.size()),
                    [&](int64_t j) { return vocab.id(toks[static_cast<size_t>(j)]); }, L,
                    ds.images.i64() + i * L);
    }
  }
  ds.labels = Tensor::from_vector_i64(labels, {static_cast<int64_t>(labels.size())});
  return ds;
}

}  // namespace signet
