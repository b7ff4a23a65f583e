// IMDB movie reviews (Maas et al. 2011, "aclImdb", https://ai.stanford.edu/~amaas/data/sentiment/)
// as int64 token sequences for sentiment classification.
//
// On-disk layout: <root>/{train,test}/{pos,neg}/*.txt, one review per file (UTF-8 text, with
// "<br />" line breaks). <root> is data_dir itself, or data_dir/aclImdb (data_dir is the folder
// the tarball was unpacked into). train/unsup and the other files of the tarball are ignored.
// There is no default directory.
//
// Tokenizer (tokenize): ASCII-lowercase; every "<br />" tag (also "<br/>", "<br>", any case) is a
// separator; a token is a maximal run of word characters, where word characters are ASCII
// letters and digits and every byte >= 0x80 (so UTF-8 words like "café" stay whole), plus an
// apostrophe that has a word character on both sides ("don't", "rock'n'roll" stay one token;
// "'quoted'" gives "quoted"). Everything else separates tokens.
//
// Vocabulary (build_vocabulary): counted over the TRAIN split only (pos and neg), the
// `words` most frequent tokens, ties broken by byte-wise alphabetical order, so it is
// deterministic. Ids: 0 = padding, 1 = out-of-vocabulary, 2.. = vocabulary words in rank order
// (id 2 is the most frequent word). The test split is always encoded with the train split's
// vocabulary (loading "test" reads the train texts to count them).
//
// Sequences (encode): exactly `max_len` ids. Like Keras' pad_sequences defaults
// (padding='pre', truncating='pre'): a short review is left-padded with 0s (the text ends at the
// last position), a long one keeps its LAST max_len tokens.
//
// Dataset: name "imdb", images int64 [N, max_len], labels int64 [N] with neg = 0, pos = 1,
// num_classes 2, vocab_size = words + 2, vocab = {"<pad>", "<oov>", word_2, ...}. Order: all neg
// reviews, then all pos, each sorted by the numeric id before '_' in "<id>_<rating>.txt" (then
// by name). Shuffle with the DataLoader.
//
// Errors (signet::Error): a missing folder (says where to get and put the data), a folder with no
// .txt files, an unreadable file or a file holding a NUL byte (not text), each naming the path.
#pragma once
#include <string>
#include <unordered_map>
#include <vector>

#include "datasets/dataset.h"

namespace signet {

struct ImdbOptions {
  int64_t words = 5000;   // vocabulary words (ids 2 .. words + 1)
  int64_t max_len = 500;  // tokens per sequence
};

// Parses the options after "imdb" in a load_dataset name: "" (defaults), ":WORDS" or
// ":WORDS:LEN" (an empty field keeps its default). Throws Error on anything else.
ImdbOptions parse_imdb_options(const std::string& opts);

std::vector<std::string> tokenize(const std::string& text);

struct Vocabulary {
  static constexpr int64_t kPad = 0, kOov = 1, kFirst = 2;
  std::vector<std::string> words;                  // words[r] has id r + 2
  std::unordered_map<std::string, int64_t> index;  // word -> id
  int64_t id(const std::string& token) const;      // kOov when absent
  int64_t size() const { return static_cast<int64_t>(words.size()) + kFirst; }
  std::vector<std::string> id_to_token() const;    // {"<pad>", "<oov>", words...}
};

// The `max_words` most frequent tokens of the documents (ties alphabetical).
Vocabulary build_vocabulary(const std::vector<std::vector<std::string>>& docs, int64_t max_words);

// Ids of `tokens` under `vocab`, pre-padded / pre-truncated to max_len (see above).
std::vector<int64_t> encode(const std::vector<std::string>& tokens, const Vocabulary& vocab,
                            int64_t max_len);

// The aclImdb root for data_dir (see above). Throws Error if not found.
std::string find_imdb_dir(const std::string& data_dir);

Dataset load_imdb(const std::string& split, const std::string& data_dir,
                  const ImdbOptions& opts = {});

}  // namespace signet
