#include "eval/cache.h"

#include <chrono>

#include <fmt/format.h>
#include <omp.h>

#include <filesystem>

#include "engine/serialize/atomic_file.h"
#include "engine/serialize/file_read.h"
#include "engine/serialize/untrusted_json.h"
#include "models/recipes.h"
#include "eval/embed_recipes.h"
#include "eval/results.h"
#include "watermark/attacks/attacks.h"

namespace signet::eval {

namespace fs = std::filesystem;

namespace {
bool exists(const std::string& p) { return fs::exists(p); }
std::string stem(const std::string& safetensors_path) {
  return safetensors_path.substr(0, safetensors_path.size() - std::string(".safetensors").size());
}
nlohmann::json read_json(const std::string& path) {
  const std::string text = read_file(path, file_kind::kReportData);
  require_json_depth(text, path);
  try {
    // The last non-empty line (a `signet ... --json` log may hold several).
    size_t end = text.find_last_not_of("\n\r ");
    size_t start = text.rfind('\n', end == std::string::npos ? 0 : end);
    start = start == std::string::npos ? 0 : start + 1;
    return nlohmann::json::parse(text.substr(start, end == std::string::npos ? 0 : end - start + 1));
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: not a JSON object ({}); delete it and the model beside it to retrain", path,
                            e.what()));
  }
}
}  // namespace

EmbedPlan embed_plan(const ModelSpec& m, const Variant& v, uint64_t seed) {
  const SchemeSpec& s = *v.spec;
  const SchemeInfo& info = s.impl->info();
  EmbedPlan p;
  p.from_base = !info.from_scratch || s.from == "base";
  p.layer = mark_layer(v, m.name);
  p.epochs = s.epochs > 0 ? s.epochs : (!p.from_base ? m.epochs : info.finetune_epochs);
  // The model's own rate when its recipe sets one: from scratch as it trains, fine-tuning a tenth.
  const double model_lr = m.lr > 0 ? (p.from_base ? m.lr / 10 : m.lr) : 0;
  const EmbedSchedule sched = embed_schedule(m.name, !p.from_base, s.lr > 0 ? s.lr : model_lr);
  p.lr = sched.lr;
  p.warmup_steps = sched.warmup_steps;
  p.base_seed = s.base_seed > 0 ? s.base_seed : seed;
  return p;
}

static std::string recipe_tag(const ModelSpec& m) {
  return m.optimizer == "sgd" && m.lr < 0 ? "" : fmt::format("-{}-lr{:g}", m.optimizer, m.lr > 0 ? m.lr : kHiddenScratchLr);
}

std::string base_name(const ModelSpec& m, uint64_t seed) {
  return fmt::format("{}{}-e{}-s{}", m.name, recipe_tag(m), m.epochs, seed);
}

std::string marked_name(const ModelSpec& m, const Variant& v, uint64_t seed) {
  const SchemeInfo& info = v.spec->impl->info();
  const EmbedPlan p = embed_plan(m, v, seed);
  const std::string how = p.from_base ? fmt::format("from{}-e{}-s{}-e{}", recipe_tag(m), m.epochs, p.base_seed, p.epochs)
                                      : fmt::format("scratch{}-e{}", m.optimizer == "sgd" ? "" : "-" + m.optimizer, p.epochs);
  // "k2": keys from a key seed and domain (watermark/verify/key_rng.h), not the training seed.
  const std::string opts = sha256_hex(info.name + "|" + model_params(v, m.name).canonical()).substr(0, 12);
  return fmt::format("{}-{}-{}{}-{}-lr{:g}-s{}-k2-{}", m.name, info.short_label, info.size_symbol, v.n, how, p.lr,
                     seed, opts);
}

// The keys of one grid watermark: the cell's seed, in a domain naming the variant's options (the
// scheme adds its name, the model and the layer).
static KeyRandomness grid_keys(const SchemeParams& params, uint64_t seed) {
  KeyRandomness k;
  k.key_seed = seed;
  k.domain = "grid/" + params.canonical();
  return k;
}

TrainRecipe config_data(const Config& c) {
  TrainRecipe r;
  r.dataset = c.dataset;
  r.data_dir = c.data_dir;
  r.pad_to = c.pad_to;
  r.channels = c.channels;
  r.train_limit = c.train_limit;
  r.test_limit = c.test_limit;
  r.cfg.seed = 1;
  return r;
}

std::string data_tag(const TrainRecipe& d) {
  std::string tag = d.dataset;
  for (char& ch : tag)
    if (ch == ':' || ch == '/' || ch == '\\') ch = '_';
  // Two folders of one format (a made corpus, the real reviews) must not share models.
  if (!d.data_dir.empty()) tag += "-dir" + sha256_hex(d.data_dir).substr(0, 8);
  if (d.pad_to) tag += fmt::format("-pad{}", d.pad_to);
  if (d.channels) tag += fmt::format("-ch{}", d.channels);
  if (d.train_limit) tag += fmt::format("-train{}", d.train_limit);
  if (d.test_limit) tag += fmt::format("-test{}", d.test_limit);
  return tag;
}

ModelCache::ModelCache(std::string dir, TrainRecipe data_recipe, const RecipeData& data)
    : dir_(std::move(dir)), data_recipe_(std::move(data_recipe)), data_(data) {
  const std::string tag = data_tag(data_recipe_);
  if (tag != "fashion-mnist") dir_ += "/" + tag;
}

std::string ModelCache::base_path(const ModelSpec& m, uint64_t seed) const {
  return dir_ + "/" + base_name(m, seed) + ".safetensors";
}

std::string ModelCache::marked_path(const ModelSpec& m, const Variant& v, uint64_t seed) const {
  return dir_ + "/marked/" + marked_name(m, v, seed) + ".safetensors";
}

bool ModelCache::has_base(const ModelSpec& m, uint64_t seed) const {
  return exists(base_path(m, seed));
}

bool ModelCache::has_marked(const ModelSpec& m, const Variant& v, uint64_t seed) const {
  const std::string s = stem(marked_path(m, v, seed));
  return exists(s + ".safetensors") && exists(s + ".wmk") && exists(s + ".json");
}

std::function<void(Model&, double)> ModelCache::accuracy_probe(const Normalization& norm,
                                                              std::vector<AccuracyProbe>& curve) const {
  return [this, norm, &curve](Model& model, double seconds) {
    curve.push_back({seconds, evaluate_model(model, data_.test, norm).accuracy});
  };
}

BaseModel ModelCache::train_base(const ModelSpec& m, uint64_t seed, int64_t probes_per_epoch) {
  std::vector<AccuracyProbe> curve;
  TrainRecipe r = data_recipe_;
  r.model = m.name;
  r.cfg.epochs = m.epochs;
  r.cfg.optimizer = m.optimizer;
  if (m.lr > 0) r.cfg.lr = static_cast<float>(m.lr);
  r.cfg.seed = seed;
  r.cfg.progress = false;
  if (probes_per_epoch > 0) {
    r.cfg.probes_per_epoch = probes_per_epoch;
    r.cfg.probe = accuracy_probe(normalization_of(data_.train), curve);  // the norm train_recipe_model uses
  }
  TrainedModel t = train_recipe_model(r, build_recipe_model(r, data_.train), data_);
  const std::string path = base_path(m, seed);
  if (!exists(path)) {
    fs::create_directories(dir_);
    save_model(path, t.model, t.norm, recipe_metadata(r));
    write_file_atomic(stem(path) + ".json",
                      recipe_json(r, t, data_.train, path, omp_get_max_threads()).dump() + "\n");
  }
  return BaseModel{std::move(t.model), t.norm, t.test.accuracy, t.train.train_seconds, path, std::move(curve)};
}

const BaseModel& ModelCache::base(const ModelSpec& m, uint64_t seed) {
  const std::string path = base_path(m, seed);
  auto it = bases_.find(path);
  if (it != bases_.end()) return it->second;
  if (!exists(path)) return bases_.emplace(path, train_base(m, seed)).first->second;
  BaseModel b;
  b.path = path;
  b.model = load_model(path, m.name, &b.norm);
  if (b.norm.mean.empty()) b.norm = normalization_of(data_.train);
  if (exists(stem(path) + ".json")) {
    const nlohmann::json j = read_json(stem(path) + ".json");
    b.accuracy = j.value("test_accuracy", 0.0);
    b.train_seconds = j.contains("train_seconds") && j["train_seconds"].is_number() ? j["train_seconds"].get<double>()
                                                                                     : -1.0;
  } else {
    b.accuracy = evaluate_model(b.model, data_.test, b.norm).accuracy;
  }
  return bases_.emplace(path, std::move(b)).first->second;
}

MarkedModel ModelCache::load_marked(const ModelSpec& m, const Variant& v, uint64_t seed) {
  MarkedModel mk;
  mk.path = marked_path(m, v, seed);
  mk.keys_path = stem(mk.path) + ".wmk";
  mk.model = load_model(mk.path, m.name, &mk.norm);
  const LoadedKeys lk = load_keys(mk.keys_path);
  SIGNET_CHECK(lk.scheme == v.spec->impl, "{}: holds {} keys, expected {}", mk.keys_path, lk.scheme->info().name,
               v.spec->scheme);
  mk.scheme = lk.scheme;
  mk.keys = lk.keys;
  const nlohmann::json j = read_json(stem(mk.path) + ".json");
  mk.accuracy = j.at("test_accuracy").get<double>();
  mk.unmarked_accuracy = j.value("unmarked_test_accuracy", kNaN);
  mk.embed_seconds = j.value("embed_seconds", kNaN);
  mk.epochs_trained = j.value("finetune_epochs", int64_t{0});
  return mk;
}

MarkedModel ModelCache::embed(const ModelSpec& m, const Variant& v, uint64_t seed, const BaseModel& base,
                              int64_t probes_per_epoch) {
  const SchemeSpec& s = *v.spec;
  const EmbedPlan p = embed_plan(m, v, seed);
  const SchemeParams params = model_params(v, m.name);
  TrainConfig cfg;
  cfg.epochs = p.epochs;
  cfg.optimizer = m.optimizer;
  cfg.lr = static_cast<float>(p.lr);
  cfg.seed = seed;
  cfg.progress = false;
  cfg.warmup_steps = p.warmup_steps;
  MarkedModel mk;
  if (probes_per_epoch > 0) {
    cfg.probes_per_epoch = probes_per_epoch;
    // The trainer leaves the probes out of its training time; the scheme's embed_seconds, timed
    // around the whole embedding, does not know about them: their time is counted here.
    cfg.probe = [probe = accuracy_probe(p.from_base ? base.norm : normalization_of(data_.train), mk.curve),
                 &mk](Model& model, double seconds) {
      const auto t0 = std::chrono::steady_clock::now();
      probe(model, seconds);
      mk.probe_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    };
  }
  mk.scheme = s.impl;
  mk.path = marked_path(m, v, seed);
  mk.keys_path = stem(mk.path) + ".wmk";
  mk.unmarked_accuracy = base.accuracy;
  const std::string tmp_model = stem(mk.path) + ".part.safetensors", tmp_keys = stem(mk.path) + ".part.wmk";
  fs::create_directories(dir_ + "/marked");
  Model start = p.from_base ? clone_model(base.model) : scratch_model_for_embedding(m.name, data_.train, seed);
  EmbedJob job{std::move(start), p.from_base ? base.norm : Normalization{}, p.from_base, &data_.train, &data_.test,
               cfg, params, grid_keys(params, seed), nullptr};
  Embedded e = s.impl->embed(std::move(job));
  const std::vector<std::string> shas =
      save_embedding(tmp_model, {tmp_keys}, e, seed, data_recipe_.dataset, p.from_base ? base.path : "");
  mk.embed_seconds = e.embed_seconds;
  mk.train_seconds = e.report.is_object() ? e.report.value("train_seconds", -1.0) : -1.0;
  mk.epochs_trained = e.report.is_object() ? e.report.value("finetune_epochs", int64_t{0}) : 0;
  mk.accuracy = e.accuracy;
  mk.model = std::move(e.model);
  mk.norm = e.norm;
  mk.keys = e.keys.at(0);
  nlohmann::json j = e.report;
  j.update({{"name", marked_name(m, v, seed)}, {"model", m.name}, {"dataset", data_recipe_.dataset}, {"data", data_tag(data_recipe_)}, {"scheme", s.scheme},
            {"options", params.values()}, {"seed", seed}, {"epochs", p.epochs}, {"lr", p.lr},
            {"from", p.from_base ? base.path : "scratch"}, {"unmarked_test_accuracy", base.accuracy},
            {"keys_sha256", shas[0]}, {"test_accuracy", mk.accuracy}, {"embed_seconds", mk.embed_seconds}});
  if (!has_marked(m, v, seed)) {
    fs::rename(tmp_model, mk.path);
    fs::rename(tmp_keys, mk.keys_path);
    write_file_atomic(stem(mk.path) + ".json", j.dump() + "\n");
  } else {
    fs::remove(tmp_model);
    fs::remove(tmp_keys);
  }
  return mk;
}

MarkedModel ModelCache::marked(const ModelSpec& m, const Variant& v, uint64_t seed, bool fresh, const BaseModel* base,
                               int64_t probes_per_epoch) {
  const EmbedPlan p = embed_plan(m, v, seed);
  MarkedModel mk;
  if (!fresh && has_marked(m, v, seed)) {
    mk = load_marked(m, v, seed);
    if (std::isnan(mk.unmarked_accuracy)) mk.unmarked_accuracy = this->base(m, p.base_seed).accuracy;
  } else {
    mk = embed(m, v, seed, base ? *base : this->base(m, p.base_seed), probes_per_epoch);
  }
  return mk;
}

}  // namespace signet::eval
