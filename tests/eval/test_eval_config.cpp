// Experiment configs (eval/config.h): TOML errors name the file, the line, the key and what is
// allowed; grid expansion; cache names.
#include <gtest/gtest.h>

#include <string>

#include "engine/error.h"
#include "eval/cache.h"
#include "eval/config.h"
#include "eval/grid.h"

using namespace signet;
using namespace signet::eval;

namespace {
const char* kMinimal = R"(
name = "t"
title = "T"
[[models]]
name = "mnist-mlp"
epochs = 5
[[schemes]]
scheme = "deepsigns-hidden"
[[attacks]]
attack = "none"
)";

// The error message of parsing `text`, or "" when it parses.
std::string error_of(const std::string& text) {
  try {
    parse_config(text, "exp.toml");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

void expect_error(const std::string& text, std::initializer_list<const char*> parts) {
  const std::string msg = error_of(text);
  ASSERT_FALSE(msg.empty()) << "expected an error for:\n" << text;
  EXPECT_NE(msg.find("exp.toml"), std::string::npos) << msg;
  for (const char* p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
}
}  // namespace

TEST(EvalConfig, MinimalConfigHasTheDefaults) {
  const Config c = parse_config(kMinimal, "exp.toml");
  EXPECT_EQ(c.name, "t");
  EXPECT_EQ(c.kind, "grid");
  EXPECT_EQ(c.dataset, "fashion-mnist");
  EXPECT_EQ(c.seeds, (std::vector<uint64_t>{1}));
  EXPECT_DOUBLE_EQ(c.alpha, 0);  // each scheme's default
  ASSERT_EQ(c.schemes.size(), 1u);
  EXPECT_EQ(c.schemes[0].sizes, (std::vector<int64_t>{32}));
  EXPECT_EQ(c.schemes[0].params.integer("bits"), 32);
  EXPECT_EQ(c.schemes[0].impl->info().name, "deepsigns-hidden");
  EXPECT_EQ(c.schemes[0].from, "scratch");
  ASSERT_EQ(c.attacks.size(), 1u);
  EXPECT_EQ(c.attacks[0].strengths, (std::vector<double>{0}));
  EXPECT_FALSE(c.figure.enabled);
}

TEST(EvalConfig, ErrorsNameTheFileLineKeyAndWhatIsAllowed) {
  expect_error("name = \"t\"\ntitle = \"T\"\nbogus = 1\n", {":3:", "unknown key 'bogus'", "allowed here", "title"});
  expect_error("seeds = \"one\"\n" + std::string(kMinimal), {":1:", "key 'seeds'", "integer"});
  expect_error(std::string(kMinimal) + "[[attacks]]\nattack = \"prune\"\nstrengths = [0.5, 1.5]\n",
               {"[[attacks]] #2", "strengths", "1.5", "out of range", "0 to 1"});
  expect_error(std::string(kMinimal) + "[[attacks]]\nattack = \"explode\"\n",
               {"attack", "'explode' is not allowed", "finetune", "prune"});
  expect_error(std::string(kMinimal) + "[[attacks]]\nattack = \"finetune\"\n", {"strengths", "required"});
  expect_error(std::string(kMinimal) + "[[attacks]]\nattack = \"prune\"\nstrengths = [0.5]\nbits = 3\n",
               {"[[attacks]] #2", "unknown key 'bits'", "finetune_epochs"});
  expect_error(std::string(kMinimal) + "[[schemes]]\nscheme = \"deepsigns-output\"\nbits = 8\n",
               {"[[schemes]] #2", "unknown key 'bits'", "keys"});
  expect_error(std::string(kMinimal) + "[[schemes]]\nscheme = \"deepsigns-output\"\nfrom = \"scratch\"\n",
               {"from", "'scratch' is not allowed", "base"});
  expect_error("name = \"Bad Name\"\ntitle = \"T\"\n", {"name", "a-z"});
  expect_error("name = \"t\"\n", {"'title' is required"});
  expect_error("name = \"t\"\ntitle = \"T\"\n[[models]]\nname = \"nope\"\n", {"name", "nope", "mnist-mlp"});
  expect_error("name = \"t\"\ntitle = [\n", {"not valid TOML"});
  expect_error(std::string(kMinimal) + "[figure]\nx = \"colour\"\n", {"[figure]", "'colour' is not allowed", "strength"});
  expect_error(std::string(kMinimal) + "[[checks]]\nclaim = \"c\"\nexpect = \"max_value\"\n", {"value"});
  expect_error(std::string(kMinimal) + "[[checks]]\nclaim = \"c\"\nwhere = { colour = 1 }\nexpect = \"all_detected\"\n",
               {"'colour' is not a column"});
  expect_error(std::string(kMinimal) + "[[attacks]]\nattack = \"none\"\nmodels = [\"cifar10-cnn\"]\n",
               {"cifar10-cnn", "not in [[models]]"});
  expect_error("kind = \"overhead\"\n" + std::string(kMinimal), {"overhead", "takes no [[attacks]]"});
  expect_error(std::string(kMinimal) + "[paper]\nsource = \"x\"\nwhatever = 2\n", {"[paper]", "unknown key 'whatever'"});
  expect_error("channels = 2\n" + std::string(kMinimal), {"channels", "0 (keep) or 3"});
  expect_error("train_limit = -5\n" + std::string(kMinimal), {"train_limit", "out of range"});
}

TEST(EvalConfig, SchemeOptionsLeftOutTakeEachModelsDefault) {
  const Config c = parse_config(R"(
name = "t"
title = "T"
[[models]]
name = "mnist-mlp"
[[models]]
name = "cifar10-cnn"
[[schemes]]
scheme = "deepsigns-hidden"
[[schemes]]
scheme = "deepsigns-hidden"
lambda1 = 0.01
[[attacks]]
attack = "none"
)", "exp.toml");
  const Variant v = variants_of(c.schemes[0])[0], given = variants_of(c.schemes[1])[0];
  EXPECT_DOUBLE_EQ(model_params(v, "cifar10-cnn").real("lambda1"), 0.1);
  EXPECT_DOUBLE_EQ(model_params(v, "mnist-mlp").real("lambda1"), 0.01);
  EXPECT_DOUBLE_EQ(model_params(given, "cifar10-cnn").real("lambda1"), 0.01);
  EXPECT_DOUBLE_EQ(model_params(given, "cifar10-cnn").real("lambda2"), 0.1);
  EXPECT_NE(marked_name(c.models[1], v, 1), marked_name(c.models[1], given, 1));
  EXPECT_EQ(marked_name(c.models[0], v, 1), marked_name(c.models[0], given, 1));  // same options for the MLP
}

TEST(EvalConfig, AModelsOptimizerAndRateReachItsMarks) {
  const Config c = parse_config(R"(
name = "t"
title = "T"
[[models]]
name = "imdb-lstm"
epochs = 10
optimizer = "adam"
lr = 0.001
[[schemes]]
scheme = "deepsigns-hidden"
[[schemes]]
scheme = "deepsigns-hidden"
from = "base"
[[attacks]]
attack = "none"
)", "exp.toml");
  EXPECT_EQ(c.models[0].optimizer, "adam");
  const Variant scratch = variants_of(c.schemes[0])[0], base = variants_of(c.schemes[1])[0];
  EXPECT_DOUBLE_EQ(embed_plan(c.models[0], scratch, 1).lr, 0.001);   // trained as the model is
  EXPECT_DOUBLE_EQ(embed_plan(c.models[0], base, 1).lr, 0.0001);     // fine-tuned at a tenth
  EXPECT_NE(marked_name(c.models[0], scratch, 1).find("scratch-adam-e10-lr0.001"), std::string::npos)
      << marked_name(c.models[0], scratch, 1);
  EXPECT_NE(marked_name(c.models[0], base, 1).find("from-adam-lr0.001-e10-s1-e1"), std::string::npos);
  expect_error(std::string(kMinimal).replace(std::string(kMinimal).find("epochs = 5"), 10, "optimizer = \"rmsprop\""),
               {"optimizer", "'rmsprop' is not allowed", "adam"});
  const Config att = parse_config(std::string(kMinimal) +
                                      "[[attacks]]\nattack = \"finetune\"\nstrengths = [1]\noptimizer = \"adam\"\nlr = 1e-4\n",
                                  "exp.toml");
  EXPECT_EQ(att.attacks[1].optimizer, "adam");
  EXPECT_EQ(att.attacks[0].optimizer, "sgd");
  expect_error(std::string(kMinimal) + "[[attacks]]\nattack = \"quantize\"\nstrengths = [8]\noptimizer = \"adam\"\n",
               {"unknown key 'optimizer'"});
}

// Two recipes of one architecture: labels tell them apart in filters, suspects and cache names.
TEST(EvalConfig, LabelledModelsOfOneArchitectureAreSuspectsOfEachOther) {
  const Config c = parse_config(R"(
name = "t"
title = "T"
[[models]]
name = "mnist-mlp"
[[models]]
name = "mnist-mlp"
label = "mnist-mlp-adam"
optimizer = "adam"
lr = 0.001
[[schemes]]
scheme = "deepsigns-hidden"
models = ["mnist-mlp"]
[[attacks]]
attack = "unmarked"
same_seeds = [2]
other_seeds = [3, 4]
)", "exp.toml");
  const std::vector<Cell> cells = expand_grid(c);
  ASSERT_EQ(cells.size(), 3u);  // one mark (the SGD model's), three suspects
  EXPECT_EQ(cells[0].suspect->label, "mnist-mlp");
  EXPECT_EQ(cells[1].suspect->label, "mnist-mlp-adam");
  EXPECT_EQ(cells[1].suspect->name, "mnist-mlp");
  EXPECT_NE(describe_cell(cells[2]).find("unmarked suspect mnist-mlp-adam-s4"), std::string::npos);
  EXPECT_EQ(base_name(*cells[1].suspect, 3), "mnist-mlp-adam-lr0.001-e5-s3");
  expect_error(std::string(kMinimal) + "[[models]]\nname = \"mnist-mlp\"\n", {"listed twice", "label"});
}

// A suspect that shares the owner's architecture and seed starts from the owner's initial
// weights: it had a part in making the keys, so the config is refused.
TEST(EvalConfig, SuspectsMustBeIndependentOfTheOwnersModels) {
  expect_error(std::string(kMinimal) + "[[attacks]]\nattack = \"unmarked\"\nsame_seeds = [3, 1]\n",
               {"same_seeds", "suspect mnist-mlp seed 1", "not independent"});
  const std::string two_recipes = R"(
name = "t"
title = "T"
seeds = [1, 2]
[[models]]
name = "mnist-mlp"
[[models]]
name = "mnist-mlp"
label = "mnist-mlp-adam"
optimizer = "adam"
[[models]]
name = "cifar10-cnn"
[[schemes]]
scheme = "deepsigns-hidden"
models = ["mnist-mlp"]
[[attacks]]
attack = "unmarked"
same_seeds = [3]
)";
  // The Adam MLP of seed 2 starts where the owner's seed-2 MLP did; a CNN of seed 2 does not.
  expect_error(two_recipes + "other_seeds = [2, 3]\n", {"other_seeds", "mnist-mlp-adam seed 2"});
  EXPECT_EQ(error_of(two_recipes + "other_seeds = [3]\n"), "");
  EXPECT_EQ(error_of(two_recipes + "other_seeds = [2]\nother_models = [\"cifar10-cnn\"]\n"), "");
  // A model no scheme marks owns no keys: its seeds are free.
  EXPECT_EQ(error_of(two_recipes + "[[attacks]]\nattack = \"unmarked\"\nmodels = [\"cifar10-cnn\"]\nsame_seeds = [1]\n"),
            "");
}

TEST(EvalConfig, DataShapingKeysBecomeTheRecipesFlags) {
  const Config c = parse_config("pad_to = 32\ntrain_limit = 5000\ntest_limit = 2000\n" + std::string(kMinimal), "exp.toml");
  const signet::TrainRecipe d = config_data(c);
  EXPECT_EQ(d.pad_to, 32);
  EXPECT_EQ(d.channels, 0);
  EXPECT_EQ(d.train_limit, 5000);
  EXPECT_EQ(d.test_limit, 2000);
  EXPECT_EQ(d.cfg.seed, 1u);  // one subset for every model seed
  EXPECT_EQ(data_tag(d), "fashion-mnist-pad32-train5000-test2000");
  EXPECT_EQ(data_tag(config_data(parse_config(kMinimal, "exp.toml"))), "fashion-mnist");
  signet::TrainRecipe a, b;
  a.dataset = b.dataset = "imdb:5000:160";
  a.data_dir = "runs/data/sentiment";
  b.data_dir = "/data/aclImdb";
  EXPECT_NE(data_tag(a), data_tag(b));
  EXPECT_EQ(data_tag(a).rfind("imdb_5000_160-dir", 0), 0u) << data_tag(a);
}

TEST(EvalConfig, GridExpandsModelsWatermarksSeedsAttacksAndStrengths) {
  const Config c = parse_config(R"(
name = "g"
title = "G"
seeds = [1, 2]
[[models]]
name = "mnist-mlp"
[[models]]
name = "cifar10-cnn"
epochs = 2
seeds = [7]
[[schemes]]
scheme = "deepsigns-hidden"
bits = [8, 16]
[[schemes]]
scheme = "deepsigns-output"
models = ["mnist-mlp"]
[[attacks]]
attack = "prune"
strengths = [0.9, 0.5, 0.5]
[[attacks]]
attack = "score-rounding"
strengths = [2]
[[attacks]]
attack = "unmarked"
same_seeds = [3]
other_seeds = [4, 5]
)", "g.toml");
  const std::vector<Cell> cells = expand_grid(c);
  // mnist-mlp: 3 watermarks x 2 seeds; cifar10-cnn: 2 watermarks x 1 seed. Per marked model:
  // prune 2 strengths (deduplicated) + 3 suspects; score-rounding only for output marks.
  EXPECT_EQ(cells.size(), size_t(2 * 2 * 5 + 1 * 2 * 6 + 2 * 5));
  EXPECT_EQ(describe_cell(cells[0]), "mnist-mlp | hidden N=8 | seed 1 | prune 0.5");
  EXPECT_EQ(describe_cell(cells[1]), "mnist-mlp | hidden N=8 | seed 1 | prune 0.9");
  EXPECT_EQ(describe_cell(cells[2]), "mnist-mlp | hidden N=8 | seed 1 | unmarked suspect mnist-mlp-s3");
  EXPECT_EQ(describe_cell(cells[3]), "mnist-mlp | hidden N=8 | seed 1 | unmarked suspect cifar10-cnn-s4");
  EXPECT_EQ(describe_cell(cells[5]), "mnist-mlp | hidden N=8 | seed 2 | prune 0.5");
  bool rounding = false;
  for (const Cell& cell : cells) {
    if (cell.attack->attack == "score-rounding") {
      rounding = true;
      EXPECT_EQ(cell.wm.spec->scheme, "deepsigns-output");
    }
    if (cell.model->name == "cifar10-cnn") EXPECT_EQ(cell.seed, 7u);
  }
  EXPECT_TRUE(rounding);
}

TEST(EvalConfig, CacheNamesMatchSignetTrainAndHoldEveryEmbeddingParameter) {
  ModelSpec cnn{"cifar10-cnn", 2};
  EXPECT_EQ(base_name(cnn, 3), "cifar10-cnn-e2-s3");
  ModelSpec lstm{"imdb-lstm", 10, "adam", 0.001};
  EXPECT_EQ(base_name(lstm, 1), "imdb-lstm-adam-lr0.001-e10-s1");  // = signet train --optimizer adam --lr 0.001
  const Config c = parse_config(std::string(kMinimal) + R"(
[[schemes]]
scheme = "deepsigns-output"
keys = [20, 30]
base_seed = 1
[[schemes]]
scheme = "deepsigns-hidden"
from = "base"
lambda2 = 0.5
signature = "ACME"
)", "exp.toml");
  const ModelSpec& m = c.models[0];
  const auto hidden = variants_of(c.schemes[0]), output = variants_of(c.schemes[1]), tuned = variants_of(c.schemes[2]);
  // Readable parts (model, variant, recipe, seed), then a hash of every scheme option.
  const std::string h = marked_name(m, hidden[0], 1), o = marked_name(m, output[1], 4);
  EXPECT_EQ(h.substr(0, h.rfind('-')), "mnist-mlp-hidden-N32-scratch-e5-lr0.05-s1-k2") << h;
  EXPECT_EQ(o.substr(0, o.rfind('-')), "mnist-mlp-output-K30-from-e5-s1-e30-lr0.005-s4-k2") << o;
  EXPECT_EQ(output[0].label, "output K=20");
  const std::string t = marked_name(m, tuned[0], 2);
  EXPECT_NE(t.find("from-e5-s2-e1-lr0.005-s2"), std::string::npos) << t;
  EXPECT_EQ(tuned[0].label, "hidden N=32 (fine-tuned)");
  // Every option is in the name: the signature and lambda2 alone make tuned differ from the
  // same settings without them.
  const Config plain = parse_config(std::string(kMinimal) + R"(
[[schemes]]
scheme = "deepsigns-hidden"
from = "base"
)", "exp.toml");
  const std::string p = marked_name(m, variants_of(plain.schemes[1])[0], 2);
  EXPECT_EQ(p.substr(0, p.rfind('-')), t.substr(0, t.rfind('-')));
  EXPECT_NE(p, t);

  static const signet::RecipeData none;
  signet::TrainRecipe fm_data, syn_data, padded;
  syn_data.dataset = "synthetic:1x28x28";
  padded.pad_to = 32;
  padded.train_limit = 5000;
  ModelCache fm("cache", fm_data, none), syn("cache", syn_data, none), pad("cache", padded, none);
  EXPECT_EQ(fm.base_path(ModelSpec{"mnist-mlp", 5}, 2), "cache/mnist-mlp-e5-s2.safetensors");
  EXPECT_EQ(syn.base_path(ModelSpec{"mnist-mlp", 5}, 2), "cache/synthetic_1x28x28/mnist-mlp-e5-s2.safetensors");
  EXPECT_EQ(pad.base_path(ModelSpec{"wrn-16-4", 2}, 1), "cache/fashion-mnist-pad32-train5000/wrn-16-4-e2-s1.safetensors");
  EXPECT_EQ(fm.marked_path(m, hidden[0], 1), "cache/marked/" + h + ".safetensors");
}

TEST(EvalConfig, ShippedConfigsParse) {
  for (const char* f : {"table3_finetune", "table4_overwrite", "fig7_integrity", "fig8_capacity",
                        "fig9_overhead", "permutation", "fig6_pruning_seeds", "blackbox_integrity", "whitebox_integrity",
                        "whitebox_services", "whitebox_capacity", "whitebox_wrn", "deepsigns_lstm", "output_keysearch", "deepsigns_wrn", "deepsigns_resnet50", "blackbox_services", "blackbox_cnn", "whitebox_cnn", "fig9_overhead_wrn", "fig9_overhead_lstm", "blackbox_cnn_integrity"}) {
    const std::string path = std::string(SIGNET_SOURCE_DIR) + "/experiments/" + f + ".toml";
    Config c;
    ASSERT_NO_THROW(c = load_config(path)) << path;
    EXPECT_EQ(c.name, f);
    EXPECT_FALSE(expand_grid(c).empty()) << path;
    EXPECT_TRUE(c.figure.enabled) << path;
  }
}
