// IMDB (aclImdb): tokenizer, vocabulary order, pad/OOV ids, pre-padding and pre-truncation, the
// test split encoded with the train vocabulary, folder layouts, and errors naming the path.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "datasets/dataloader.h"
#include "datasets/imdb.h"

using namespace signet;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    std::string t = (fs::temp_directory_path() / "signet_imdb_XXXXXX").string();
    path = ::mkdtemp(t.data());
  }
  ~TempDir() { fs::remove_all(path); }
};

void write(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

// A tiny aclImdb tree under root. Train word counts: the 5, good 4, bad 3, movie 2, film 2,
// awful 1, great 1 (plus "plot" once in train/unsup, which must be ignored).
void make_tree(const std::string& root) {
  write(root + "/train/neg/10_2.txt", "The movie was BAD. Bad, bad<br /><br />the end");
  write(root + "/train/neg/2_1.txt", "the film: awful");
  write(root + "/train/pos/0_10.txt", "Good good GOOD film!");
  write(root + "/train/pos/1_9.txt", "the movie, the great... good");
  write(root + "/train/pos/notes.md", "ignored ignored ignored ignored ignored");
  write(root + "/train/unsup/0_0.txt", "plot plot plot plot plot plot");
  write(root + "/test/neg/0_3.txt", "plot plot plot bad");
  write(root + "/test/pos/0_8.txt", "good");
}

template <class F>
void expect_error(F&& f, const std::vector<std::string>& needles) {
  try {
    f();
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    for (const auto& n : needles)
      EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what() << "\n  lacks: " << n;
  }
}

std::vector<int64_t> row(const Dataset& ds, int64_t i) {
  const int64_t L = ds.images.size(1);
  return std::vector<int64_t>(ds.images.i64() + i * L, ds.images.i64() + (i + 1) * L);
}

}  // namespace

TEST(Imdb, Tokenizer) {
  EXPECT_EQ(tokenize("Don't <br /><br />STOP!It's 'quoted' rock'n'roll caf\xc3\xa9 42x"),
            (std::vector<std::string>{"don't", "stop", "it's", "quoted", "rock'n'roll",
                                      "caf\xc3\xa9", "42x"}));
  EXPECT_EQ(tokenize("a<BR/>b<br>c<br  />d<b>e"),
            (std::vector<std::string>{"a", "b", "c", "d", "b", "e"}));
  EXPECT_EQ(tokenize("word' ''x -- y_z"), (std::vector<std::string>{"word", "x", "y", "z"}));
  EXPECT_TRUE(tokenize("").empty());
  EXPECT_TRUE(tokenize("<br /> ... '").empty());
  EXPECT_EQ(tokenize("end<br"), (std::vector<std::string>{"end", "br"}));
}

TEST(Imdb, VocabularyAndEncoding) {
  const Vocabulary v = build_vocabulary({{"b", "a", "c", "a"}, {"b", "d", "e"}}, 3);
  // a and b twice (tie: alphabetical), then c, d, e once: c wins the last place alphabetically.
  EXPECT_EQ(v.words, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(v.size(), 5);
  EXPECT_EQ(v.id("a"), 2);
  EXPECT_EQ(v.id("c"), 4);
  EXPECT_EQ(v.id("d"), Vocabulary::kOov);
  EXPECT_EQ(v.id_to_token(), (std::vector<std::string>{"<pad>", "<oov>", "a", "b", "c"}));
  EXPECT_EQ(build_vocabulary({{"x"}}, 10).words, (std::vector<std::string>{"x"}));
  EXPECT_TRUE(build_vocabulary({{"x"}}, 0).words.empty());
  // Pre-padding and pre-truncation (keep the last tokens).
  EXPECT_EQ(encode({"a", "d"}, v, 4), (std::vector<int64_t>{0, 0, 2, 1}));
  EXPECT_EQ(encode({"a", "b", "c", "d", "a"}, v, 3), (std::vector<int64_t>{4, 1, 2}));
  EXPECT_EQ(encode({}, v, 2), (std::vector<int64_t>{0, 0}));
  EXPECT_EQ(encode({"c", "b"}, v, 2), (std::vector<int64_t>{4, 3}));
  EXPECT_THROW(encode({"a"}, v, 0), Error);
}

TEST(Imdb, LoadsTreeWithTrainVocabulary) {
  TempDir d;
  const std::string root = d.path + "/aclImdb";
  make_tree(root);
  // Vocabulary: the(5) good(4) bad(3) film(2) movie(2) | awful(1) end(1) great(1) was(1) ...
  ImdbOptions o;
  o.words = 5;
  o.max_len = 6;
  for (const std::string& dir : {root, d.path, d.path + "/"}) {
    const Dataset tr = load_imdb("train", dir, o);
    EXPECT_EQ(tr.name, "imdb");
    EXPECT_TRUE(tr.is_tokens());
    EXPECT_EQ(tr.num_classes, 2);
    EXPECT_EQ(tr.vocab_size, 7);
    EXPECT_EQ(tr.vocab, (std::vector<std::string>{"<pad>", "<oov>", "the", "good", "bad", "film", "movie"}));
    ASSERT_EQ(tr.images.shape(), (Shape{4, 6}));
    // neg first, by numeric id (2_1 before 10_2), then pos.
    EXPECT_EQ(tr.labels.to_vector_i64(), (std::vector<int64_t>{0, 0, 1, 1}));
    EXPECT_EQ(row(tr, 0), (std::vector<int64_t>{0, 0, 0, 2, 5, 1}));  // the film awful
    // "the movie was bad bad bad the end": 8 tokens, the last 6 kept.
    EXPECT_EQ(row(tr, 1), (std::vector<int64_t>{1, 4, 4, 4, 2, 1}));
    EXPECT_EQ(row(tr, 2), (std::vector<int64_t>{0, 0, 3, 3, 3, 5}));
    EXPECT_EQ(row(tr, 3), (std::vector<int64_t>{0, 2, 6, 2, 1, 3}));
  }
  // The test split uses the train vocabulary: "plot" is frequent in test (and in train/unsup)
  // but absent from train/{pos,neg}, so it is out of vocabulary.
  const Dataset te = load_dataset("imdb:5:6", "test", d.path);
  EXPECT_EQ(te.vocab_size, 7);
  EXPECT_EQ(te.labels.to_vector_i64(), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(row(te, 0), (std::vector<int64_t>{0, 0, 1, 1, 1, 4}));
  EXPECT_EQ(row(te, 1), (std::vector<int64_t>{0, 0, 0, 0, 0, 3}));
  // Defaults via load_dataset, and option parsing.
  const Dataset def = load_dataset("imdb", "train", root);
  EXPECT_EQ(def.images.shape(), (Shape{4, 500}));
  EXPECT_EQ(def.vocab_size, 2 + 9);  // all 9 distinct train tokens fit in 5000
  EXPECT_EQ(load_dataset("imdb::3", "train", root).images.shape(), (Shape{4, 3}));
  EXPECT_EQ(parse_imdb_options("7").words, 7);
  EXPECT_EQ(parse_imdb_options("7").max_len, 500);
  for (const char* bad : {"imdb:x", "imdb:5:0", "imdb:5:6:7", "imdb:-1"})
    expect_error([&] { load_dataset(bad, "train", root); }, {"imdb:WORDS:LEN"});

  // The int64 rows go through the DataLoader untouched.
  DataLoaderOptions lo;
  lo.batch_size = 3;
  lo.shuffle = false;
  DataLoader dl(te, lo);
  Batch b;
  ASSERT_TRUE(dl.next(b));
  EXPECT_EQ(b.x.dtype(), DType::I64);
  EXPECT_EQ(b.x.shape(), (Shape{2, 6}));
  EXPECT_EQ(b.x.to_vector_i64(), te.images.to_vector_i64());
}

TEST(Imdb, ErrorsNameThePath) {
  expect_error([] { load_imdb("train", ""); }, {"no default location", "aclImdb_v1.tar.gz"});
  TempDir d;
  expect_error([&] { load_imdb("train", d.path); }, {d.path, "aclImdb"});
  make_tree(d.path);
  expect_error([&] { load_imdb("dev", d.path); }, {"dev"});
  // A review with a NUL byte is not text.
  write(d.path + "/test/pos/5_7.txt", std::string("good\0movie", 10));
  expect_error([&] { load_imdb("test", d.path); }, {d.path + "/test/pos/5_7.txt", "NUL"});
  // Loading test needs the train split for the vocabulary: a missing folder is named.
  fs::remove_all(d.path + "/train/neg");
  expect_error([&] { load_imdb("test", d.path); }, {d.path + "/train/neg", "missing"});
  fs::create_directories(d.path + "/train/neg");
  expect_error([&] { load_imdb("train", d.path); }, {d.path + "/train/neg", "no review files"});
  // A directory named *.txt is not a review: it is skipped.
  write(d.path + "/train/neg/1_1.txt", "fine");
  fs::create_directories(d.path + "/train/neg/2_2.txt");
  EXPECT_EQ(load_imdb("train", d.path).size(), 3);
}
