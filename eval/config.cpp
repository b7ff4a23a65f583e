#include "eval/config.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "engine/error.h"
#include "engine/serialize/file_read.h"
#include "eval/results.h"
#include "eval/toml_reader.h"
#include "models/registry.h"

namespace signet::eval {

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr int64_t kMaxI = std::numeric_limits<int64_t>::max();

const std::vector<std::string> kAttacks = {"none",      "finetune", "prune",       "quantize",       "permute",
                                           "overwrite", "distill",  "unmarked",    "input-noise",    "score-rounding",
                                           "score-perturbation", "control"};

std::vector<uint64_t> seeds_of(TomlTable& t, const std::string& key, const std::vector<uint64_t>& def) {
  std::vector<int64_t> d(def.begin(), def.end());
  const std::vector<int64_t> v = t.integers(key, d, 0, kMaxI);
  return std::vector<uint64_t>(v.begin(), v.end());
}

ModelSpec parse_model(TomlTable t) {
  ModelSpec m;
  m.name = t.required_str("name");
  try {
    require_model_name(m.name);
  } catch (const Error& e) {
    t.fail("name", e.what());
  }
  m.label = t.str("label", m.name);
  if (m.label.empty() || m.label.find_first_of(" ,|") != std::string::npos)
    t.fail("label", "'" + m.label + "' must be non-empty, without spaces, ',' or '|'");
  m.epochs = t.integer("epochs", 5, 1, 100000);
  m.optimizer = t.str("optimizer", "sgd", {"sgd", "adam", "adamw"});
  m.lr = t.number("lr", -1, 1e-9, 10);
  m.seeds = seeds_of(t, "seeds", {});
  t.finish();
  return m;
}

SchemeSpec parse_scheme(TomlTable t) {
  SchemeSpec s;
  std::vector<std::string> names;
  for (const Scheme* sc : all_schemes()) names.push_back(sc->info().name);
  s.scheme = t.required_str("scheme", names);
  s.impl = &find_scheme(s.scheme);
  const SchemeInfo& info = s.impl->info();
  s.label = t.str("label", "");
  s.models = t.strings("models", {});
  s.from = t.str("from", info.from_scratch ? "scratch" : "base",
                 info.from_scratch ? std::vector<std::string>{"scratch", "base"} : std::vector<std::string>{"base"});
  s.epochs = t.integer("epochs", -1, 1, 100000);
  s.lr = t.number("lr", -1, 1e-9, 10);
  s.base_seed = static_cast<uint64_t>(t.integer("base_seed", 0, 0, kMaxI));
  s.params = s.impl->params();
  for (const SchemeOption& o : s.impl->options()) {
    const auto lo = static_cast<int64_t>(o.min), hi = static_cast<int64_t>(o.max);
    if (o.name == info.size_option) {
      s.sizes = t.integers(o.name, {std::stoll(o.default_value)}, lo, hi);
      if (s.sizes.empty()) t.fail(o.name, "must not be empty");
    } else if (!t.has(o.name)) {
      continue;  // the default, or the scheme's default for each model (Scheme::model_defaults)
    } else if (o.type == SchemeOption::Type::Integer) {
      s.params.set(o.name, std::to_string(t.integer(o.name, std::stoll(o.default_value), lo, hi)));
    } else if (o.type == SchemeOption::Type::Real) {
      s.params.set(o.name, fmt::format("{}", t.number(o.name, std::stod(o.default_value), o.min, o.max)));
    } else {
      s.params.set(o.name, t.str(o.name, o.default_value, o.choices));
    }
  }
  try {
    s.impl->check(s.params);
  } catch (const Error& e) {
    t.fail("scheme", e.what());
  }
  t.finish();
  return s;
}

AttackSpec parse_attack(TomlTable t) {
  AttackSpec a;
  a.attack = t.required_str("attack", kAttacks);
  const std::string& n = a.attack;
  const bool unused = n == "none" || n == "permute" || n == "unmarked" || n == "control";
  if (unused) {
    a.strengths = {0};
  } else {
    double lo = 0, hi = kInf;
    if (n == "prune") hi = 1;
    if (n == "quantize") lo = 1, hi = 16;
    if (n == "score-rounding") hi = 15;
    a.strengths = t.numbers("strengths", {}, lo, hi);
    if (a.strengths.empty()) t.fail("strengths", "is required for attack '" + n + "' (e.g. strengths = [1, 2])");
    for (double s : a.strengths)
      if ((n == "quantize" || n == "score-rounding" || n == "finetune" || n == "overwrite" || n == "distill") &&
          s != std::floor(s))
        t.fail("strengths", fmt::format("{} strengths are whole numbers, got {}", n, s));
  }
  a.models = t.strings("models", {});
  a.schemes = t.strings("schemes", {});
  a.extraction = t.strings("extraction", {"plain"}, {"plain", "aligned"});
  if (a.extraction.empty()) t.fail("extraction", "must not be empty");
  if (n == "finetune" || n == "prune" || n == "overwrite") {
    a.lr = t.number("lr", 0.005, 1e-9, 10);
    a.samples = t.integer("samples", 0, 0, kMaxI);
  }
  if (n == "finetune" || n == "prune" || n == "overwrite" || n == "distill")
    a.optimizer = t.str("optimizer", "sgd", {"sgd", "adam", "adamw"});
  if (n == "distill") {
    a.lr = t.number("lr", 0.05, 1e-9, 10);
    a.samples = t.integer("samples", 0, 0, kMaxI);  // the query budget (0: the whole training split)
    a.answers = t.str("answers", "labels", {"labels", "scores"});
    a.student = t.str("student", "");
    if (!a.student.empty()) {
      try {
        require_model_name(a.student);
      } catch (const Error& e) {
        t.fail("student", e.what());
      }
    }
  }
  if (n == "finetune") a.cumulative = t.boolean("cumulative", true);
  if (n == "prune") a.finetune_epochs = t.integer("finetune_epochs", 1, 0, 100000);
  if (n == "permute") a.layers = t.strings("layers", {});
  if (n == "overwrite") {
    // attacker_bits / attacker_keys: the same setting, named after the usual size options.
    const int64_t bits = t.integer("attacker_bits", 0, 0, 4096), keys = t.integer("attacker_keys", 0, 0, 100000);
    if (bits > 0 && keys > 0) t.fail("attacker_keys", "give attacker_bits or attacker_keys, not both");
    a.attacker_size = bits > 0 ? bits : keys;
  }
  if (n == "unmarked") {
    a.same_seeds = seeds_of(t, "same_seeds", {});
    a.other_seeds = seeds_of(t, "other_seeds", {});
    a.other_models = t.strings("other_models", {});
    if (a.same_seeds.empty() && a.other_seeds.empty())
      t.fail("same_seeds", "attack 'unmarked' needs suspects: same_seeds and/or other_seeds");
  }
  t.finish();
  return a;
}

FigureSpec parse_figure(TomlTable t) {
  const std::vector<std::string>& cols = column_names();
  FigureSpec f;
  f.enabled = true;
  f.x = t.str("x", "strength", cols);
  f.y = t.str("y", "value", cols);
  f.y2 = t.str("y2", "");
  if (!f.y2.empty() && std::find(cols.begin(), cols.end(), f.y2) == cols.end()) t.fail("y2", "is not a column");
  f.series = t.strings("series", {}, cols);
  f.rows = t.str("rows", "");
  f.cols = t.str("cols", "");
  for (const std::string* k : {&f.rows, &f.cols})
    if (!k->empty() && std::find(cols.begin(), cols.end(), *k) == cols.end())
      t.fail(k == &f.rows ? "rows" : "cols", "'" + *k + "' is not a column");
  f.where = t.scalars("where", cols);
  f.threshold = t.boolean("threshold", true);
  f.categorical_x = t.boolean("categorical_x", false);
  f.logx = t.boolean("logx", false);
  f.style = t.str("style", "linespoints", {"linespoints", "points", "boxes"});
  f.title = t.str("title", "");
  f.xlabel = t.str("xlabel", "");
  f.ylabel = t.str("ylabel", "");
  f.y2label = t.str("y2label", "");
  f.yrange = t.numbers("yrange", {}, -kInf, kInf);
  if (!f.yrange.empty() && (f.yrange.size() != 2 || f.yrange[0] >= f.yrange[1]))
    t.fail("yrange", "must be [low, high] with low < high");
  t.finish();
  return f;
}

// An unmarked suspect must have had no part in making the keys it meets. A model of the owner's
// architecture and seed starts from the owner's initial weights (the hidden mark trains from
// them, the output mark fine-tunes that very model), so such a suspect is refused, whatever its
// recipe.
void check_suspects_independent(const Config& c, TomlTable& t) {
  auto lists = [](const std::vector<std::string>& names, const std::string& label) {
    return names.empty() || std::find(names.begin(), names.end(), label) != names.end();
  };
  for (const AttackSpec& a : c.attacks) {
    if (a.attack != "unmarked") continue;
    for (const ModelSpec& owner : c.models) {
      bool marked = false;
      for (const SchemeSpec& s : c.schemes) marked = marked || lists(s.models, owner.label);
      if (!marked || !lists(a.models, owner.label)) continue;
      const std::vector<uint64_t>& owner_seeds = owner.seeds.empty() ? c.seeds : owner.seeds;
      for (const ModelSpec& suspect : c.models) {
        const bool same = suspect.label == owner.label;
        if (suspect.name != owner.name || (!same && !lists(a.other_models, suspect.label))) continue;
        for (uint64_t seed : same ? a.same_seeds : a.other_seeds)
          if (std::find(owner_seeds.begin(), owner_seeds.end(), seed) != owner_seeds.end())
            t.fail(same ? "same_seeds" : "other_seeds",
                   fmt::format("suspect {} seed {} is not independent of the keys of {} seed {}: both start "
                               "from the same initial weights. Use suspect seeds outside the owners' seeds",
                               suspect.label, seed, owner.label, seed));
      }
    }
  }
}
}  // namespace

const std::vector<std::string>& attack_names() { return kAttacks; }
bool attack_trains(const std::string& a) {
  return a == "finetune" || a == "prune" || a == "overwrite" || a == "distill";
}
bool oracle_attack(const std::string& a) {
  return a == "input-noise" || a == "score-rounding" || a == "score-perturbation";
}

Config parse_config(const std::string& text, const std::string& path) {
  const toml::value root = parse_toml(text, path);
  TomlTable t(root, path, "");
  Config c;
  c.path = path;
  c.name = t.required_str("name");
  if (c.name.empty() || c.name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_-") != std::string::npos)
    t.fail("name", "'" + c.name + "' must be non-empty and use only a-z, 0-9, '_' and '-' (it names files)");
  c.title = t.required_str("title");
  c.description = t.str("description", "");
  c.kind = t.str("kind", "grid", {"grid", "overhead"});
  c.dataset = t.str("dataset", "fashion-mnist");
  c.data_dir = t.str("data_dir", "");
  c.pad_to = t.integer("pad_to", 0, 0, 4096);
  c.channels = t.integer("channels", 0, 0, 3);
  if (c.channels != 0 && c.channels != 3) t.fail("channels", "must be 0 (keep) or 3 (replicate grey images into RGB)");
  c.train_limit = t.integer("train_limit", 0, 0, kMaxI);
  c.test_limit = t.integer("test_limit", 0, 0, kMaxI);
  c.seeds = seeds_of(t, "seeds", {1});
  c.alpha = t.number("alpha", 0, 0, 0.5);  // 0: each scheme's default
  c.target_share = t.number("target_share", 0, 0, 1);
  c.probes_per_epoch = t.integer("probes_per_epoch", 4, 1, 1000);
  if (c.kind != "overhead" && c.target_share > 0) t.fail("target_share", "applies to kind = \"overhead\" only");
  for (TomlTable m : t.tables("models")) c.models.push_back(parse_model(m));
  for (TomlTable s : t.tables("schemes")) c.schemes.push_back(parse_scheme(s));
  for (TomlTable a : t.tables("attacks")) c.attacks.push_back(parse_attack(a));
  if (auto f = t.table("figure")) c.figure = parse_figure(*f);
  if (auto p = t.table("paper")) {
    c.paper_source = p->str("source", "");
    c.paper_notes = p->str("notes", "");
    for (TomlTable r : p->tables("rows")) {
      PaperRow pr;
      pr.setting = r.required_str("setting");
      pr.match = r.scalars("match", column_names());
      pr.accuracy = r.str("accuracy", "");
      pr.metric = r.str("metric", "");
      pr.detected = r.str("detected", "");
      pr.note = r.str("note", "");
      pr.summary = r.str("summary", "cells", {"cells", "max_detected_strength", "detected_count", "max_bits_ber0"});
      r.finish();
      c.paper_rows.push_back(pr);
    }
    p->finish();
  }
  for (TomlTable k : t.tables("checks")) {
    CheckSpec ck;
    ck.claim = k.required_str("claim");
    ck.where = k.scalars("where", column_names());
    ck.expect = k.required_str("expect", {"all_detected", "none_detected", "no_attack_success", "max_value"});
    ck.value = k.number("value", 0, -kInf, kInf);
    if (ck.expect == "max_value" && !k.has("value")) k.fail("value", "expect = \"max_value\" needs value = X");
    k.finish();
    c.checks.push_back(ck);
  }
  if (auto r = t.table("restore")) {
    c.restore_notes = r->str("notes", "");
    r->finish();
  }
  t.finish();  // unknown keys first: a misspelt key explains most other errors
  if (c.models.empty()) t.fail("models", "at least one [[models]] table is required");
  if (c.schemes.empty()) t.fail("schemes", "at least one [[schemes]] table is required");
  if (c.kind == "grid" && c.attacks.empty())
    t.fail("attacks", "a grid needs at least one [[attacks]] table (attack = \"none\" for the marked model only)");
  if (c.kind == "overhead" && !c.attacks.empty()) t.fail("attacks", "kind = \"overhead\" takes no [[attacks]]");
  std::vector<std::string> model_names;
  for (const ModelSpec& m : c.models) {
    if (std::find(model_names.begin(), model_names.end(), m.label) != model_names.end())
      t.fail("models", "model '" + m.label + "' is listed twice (give each entry its own `label`)");
    model_names.push_back(m.label);
  }
  auto check_models = [&](const std::vector<std::string>& names, const char* what) {
    for (const std::string& n : names)
      if (std::find(model_names.begin(), model_names.end(), n) == model_names.end())
        t.fail(what, fmt::format("'{}' names model '{}', which is not in [[models]] (listed: {})", what, n,
                                 fmt::join(model_names, ", ")));
  };
  for (const SchemeSpec& s : c.schemes) check_models(s.models, "schemes");
  for (const AttackSpec& a : c.attacks) {
    check_models(a.models, "attacks");
    check_models(a.other_models, "attacks");
  }
  check_suspects_independent(c, t);
  return c;
}

Config load_config(const std::string& path) {
  return parse_config(read_file(path, file_kind::kConfig), path);
}

}  // namespace signet::eval
