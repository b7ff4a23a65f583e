#include "eval/cache.h"

#include <fmt/format.h>
#include <omp.h>

#include <filesystem>

#include "engine/serialize/atomic_file.h"
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
  const std::string text = read_file(path);
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
  EmbedPlan p;
  p.from_base = !s.hidden() || s.from == "base";
  p.layer = s.hidden() ? mark_layer(v, m.name) : s.layer;
  p.epochs = s.epochs > 0 ? s.epochs : (!p.from_base ? m.epochs : s.hidden() ? 1 : kOutputEpochLimit);
  const EmbedSchedule sched = embed_schedule(m.name, !p.from_base, s.lr);
  p.lr = sched.lr;
  p.warmup_steps = sched.warmup_steps;
  p.base_seed = s.base_seed > 0 ? s.base_seed : seed;
  return p;
}

std::string base_name(const std::string& model, int64_t epochs, uint64_t seed) {
  return fmt::format("{}-e{}-s{}", model, epochs, seed);
}

std::string marked_name(const ModelSpec& m, const Variant& v, uint64_t seed) {
  const SchemeSpec& s = *v.spec;
  const EmbedPlan p = embed_plan(m, v, seed);
  const std::string how = p.from_base ? fmt::format("from-e{}-s{}-e{}", m.epochs, p.base_seed, p.epochs)
                                      : fmt::format("scratch-e{}", p.epochs);
  if (s.hidden()) {
    const std::string sig = s.signature.empty() ? "" : "-sig" + sha256_hex(s.signature).substr(0, 12);
    return fmt::format("{}-hidden-{}-N{}-c{}-kf{:g}-l{:g}-{:g}{}-{}-lr{:g}-s{}", m.name, p.layer, v.n, s.wm_classes,
                       s.key_fraction, s.lambda1, s.lambda2, sig, how, p.lr, seed);
  }
  return fmt::format("{}-output-K{}-{}-c{}-fs{}-kr{}-p{:g}{}-{}-lr{:g}-s{}", m.name, v.n, s.key_search, s.candidates,
                     s.finetune_subset, s.key_repeat, s.confidence, s.layer.empty() ? "" : "-" + s.layer, how, p.lr,
                     seed);
}

ModelCache::ModelCache(std::string dir, std::string dataset, std::string data_dir, const RecipeData& data)
    : dir_(std::move(dir)), dataset_(std::move(dataset)), data_dir_(std::move(data_dir)), data_(data) {
  if (dataset_ != "fashion-mnist") {
    std::string sub = dataset_;
    for (char& ch : sub)
      if (ch == ':' || ch == '/' || ch == '\\') ch = '_';
    dir_ += "/" + sub;
  }
}

std::string ModelCache::base_path(const std::string& model, int64_t epochs, uint64_t seed) const {
  return dir_ + "/" + base_name(model, epochs, seed) + ".safetensors";
}

std::string ModelCache::marked_path(const ModelSpec& m, const Variant& v, uint64_t seed) const {
  return dir_ + "/marked/" + marked_name(m, v, seed) + ".safetensors";
}

bool ModelCache::has_base(const std::string& model, int64_t epochs, uint64_t seed) const {
  return exists(base_path(model, epochs, seed));
}

bool ModelCache::has_marked(const ModelSpec& m, const Variant& v, uint64_t seed) const {
  const std::string s = stem(marked_path(m, v, seed));
  return exists(s + ".safetensors") && exists(s + ".wmk") && exists(s + ".json");
}

BaseModel ModelCache::train_base(const std::string& model, int64_t epochs, uint64_t seed) {
  TrainRecipe r;
  r.model = model;
  r.dataset = dataset_;
  r.data_dir = data_dir_;
  r.cfg.epochs = epochs;
  r.cfg.seed = seed;
  r.cfg.progress = false;
  TrainedModel t = train_recipe_model(r, build_recipe_model(r, data_.train), data_);
  const std::string path = base_path(model, epochs, seed);
  if (!exists(path)) {
    fs::create_directories(dir_);
    save_model(path, t.model, t.norm, recipe_metadata(r));
    write_file_atomic(stem(path) + ".json",
                      recipe_json(r, t, data_.train, path, omp_get_max_threads()).dump() + "\n");
  }
  return BaseModel{std::move(t.model), t.norm, t.test.accuracy, t.train.train_seconds, path};
}

const BaseModel& ModelCache::base(const std::string& model, int64_t epochs, uint64_t seed) {
  const std::string path = base_path(model, epochs, seed);
  auto it = bases_.find(path);
  if (it != bases_.end()) return it->second;
  if (!exists(path)) return bases_.emplace(path, train_base(model, epochs, seed)).first->second;
  BaseModel b;
  b.path = path;
  b.model = load_model(path, model, &b.norm);
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
  mk.hidden = v.spec->hidden();
  mk.model = load_model(mk.path, m.name, &mk.norm);
  if (mk.hidden) {
    mk.hkeys = load_hidden_keys(mk.keys_path);
  } else {
    mk.okeys = load_output_keys(mk.keys_path);
  }
  const nlohmann::json j = read_json(stem(mk.path) + ".json");
  mk.accuracy = j.at("test_accuracy").get<double>();
  mk.unmarked_accuracy = j.value("unmarked_test_accuracy", kNaN);
  mk.embed_seconds = j.value("embed_seconds", kNaN);
  return mk;
}

MarkedModel ModelCache::embed(const ModelSpec& m, const Variant& v, uint64_t seed, const BaseModel& base) {
  const SchemeSpec& s = *v.spec;
  const EmbedPlan p = embed_plan(m, v, seed);
  TrainConfig cfg;
  cfg.epochs = p.epochs;
  cfg.lr = static_cast<float>(p.lr);
  cfg.seed = seed;
  cfg.progress = false;
  cfg.warmup_steps = p.warmup_steps;
  MarkedModel mk;
  mk.hidden = s.hidden();
  mk.path = marked_path(m, v, seed);
  mk.keys_path = stem(mk.path) + ".wmk";
  mk.unmarked_accuracy = base.accuracy;
  const std::string tmp_model = stem(mk.path) + ".part.safetensors", tmp_keys = stem(mk.path) + ".part.wmk";
  fs::create_directories(dir_ + "/marked");
  nlohmann::json j = {{"name", marked_name(m, v, seed)}, {"model", m.name}, {"dataset", dataset_},
                      {"scheme", s.scheme}, {"seed", seed}, {"epochs", p.epochs}, {"lr", p.lr},
                      {"from", p.from_base ? base.path : "scratch"}, {"unmarked_test_accuracy", base.accuracy}};
  if (mk.hidden) {
    HiddenConfig wm;
    wm.bits = v.n;
    wm.classes = s.wm_classes;
    wm.key_fraction = s.key_fraction;
    wm.lambda1 = static_cast<float>(s.lambda1);
    wm.lambda2 = static_cast<float>(s.lambda2);
    wm.owner = s.signature;
    Model start = p.from_base ? clone_model(base.model) : scratch_model_for_embedding(m.name, data_.train, seed);
    HiddenEmbedded e = embed_hidden_recipe(std::move(start), p.from_base ? base.norm : Normalization{}, data_.train,
                                           data_.test, wm, {p.layer}, cfg);
    mk.embed_seconds = e.embed_seconds;
    std::vector<std::string> shas;
    save_hidden_embedding(tmp_model, {tmp_keys}, e, seed, dataset_, &shas);
    const HiddenEvidence ev = extract_hidden(e.model, e.keys[0]);
    mk.model = std::move(e.model);
    mk.norm = e.norm;
    mk.hkeys = e.keys[0];
    mk.accuracy = e.test.accuracy;
    j.update({{"layer", p.layer}, {"bits", v.n}, {"train_seconds", e.train.train_seconds}, {"ber", ev.ber},
              {"p_value", ev.p_value}, {"keys_sha256", shas[0]}});
  } else {
    OutputConfig oc;
    oc.keys = v.n;
    oc.key_search = s.key_search;
    oc.candidates = s.candidates;
    oc.finetune_subset = s.finetune_subset;
    oc.key_repeat = s.key_repeat;
    oc.confidence = s.confidence;
    oc.layer = s.layer;
    OutputEmbedded e = embed_output_recipe(clone_model(base.model), base.norm, data_.train, data_.test, oc, cfg);
    mk.embed_seconds = e.embed_seconds;
    const std::string sha = save_output_embedding(tmp_model, tmp_keys, base.path, e, seed, dataset_);
    mk.model = std::move(e.model);
    mk.norm = e.norm;
    mk.okeys = e.keys;
    mk.accuracy = e.after.accuracy;
    j.update({{"keys", v.n}, {"finetune_epochs", e.report.finetune_epochs}, {"search_seconds", e.report.search_seconds},
              {"finetune_seconds", e.report.finetune_seconds}, {"mismatches", e.self.mismatches},
              {"theta", e.self.theta}, {"keys_sha256", sha}});
  }
  j["test_accuracy"] = mk.accuracy;
  j["embed_seconds"] = mk.embed_seconds;
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

MarkedModel ModelCache::marked(const ModelSpec& m, const Variant& v, uint64_t seed, bool fresh, const BaseModel* base) {
  const EmbedPlan p = embed_plan(m, v, seed);
  MarkedModel mk;
  if (!fresh && has_marked(m, v, seed)) {
    mk = load_marked(m, v, seed);
    if (std::isnan(mk.unmarked_accuracy)) mk.unmarked_accuracy = this->base(m.name, m.epochs, p.base_seed).accuracy;
  } else {
    mk = embed(m, v, seed, base ? *base : this->base(m.name, m.epochs, p.base_seed));
  }
  if (mk.hidden)
    mk.reference = mk.hkeys.ref_activations.defined()
                       ? mk.hkeys.ref_activations
                       : get_activations(mk.model, mk.hkeys.key_inputs, mk.hkeys.norm, mk.hkeys.layer);
  return mk;
}

}  // namespace signet::eval
