#include "eval/embed_recipes.h"

#include <chrono>

#include "engine/serialize/atomic_file.h"
#include "models/recipes.h"

namespace signet {

EmbedSchedule embed_schedule(const std::string& model, bool from_scratch, double lr) {
  EmbedSchedule e;
  e.lr = lr > 0 ? lr : (from_scratch ? kHiddenScratchLr : kFinetuneLr);
  e.warmup_steps = from_scratch ? default_warmup_steps(model) : 0;
  return e;
}

Model scratch_model_for_embedding(const std::string& name, const Dataset& train, uint64_t seed) {
  ModelConfig mc;
  mc.num_classes = train.num_classes;
  mc.input_shape = Shape(train.images.shape().begin() + 1, train.images.shape().end());
  Rng init(seed);
  return build_model(name, mc, init);
}

HiddenEmbedded embed_hidden_recipe(Model model, Normalization norm, const Dataset& train, const Dataset& test,
                                   HiddenConfig wm, const std::vector<std::string>& layers, const TrainConfig& cfg,
                                   const std::function<void(const HiddenKeys&)>& on_keys) {
  SIGNET_CHECK(!layers.empty(), "deepsigns-hidden: no layer to mark");
  if (norm.mean.empty()) norm = normalization_of(train);
  wm.seed = cfg.seed;
  // Keys draw from their own stream so the training data order is the unmarked run's.
  Rng key_rng(cfg.seed ^ 0x6B657973ULL);
  HiddenEmbedded e{std::move(model), norm, {}, {}, {}, 0};
  const auto t0 = std::chrono::steady_clock::now();
  for (const std::string& layer : layers) {
    HiddenConfig c = wm;
    c.layer = layer;
    e.keys.push_back(key_generation(e.model, train, e.norm, c, key_rng));
    if (on_keys) on_keys(e.keys.back());
  }
  std::vector<HiddenKeys*> ptrs;
  for (HiddenKeys& k : e.keys) ptrs.push_back(&k);
  e.train = embed_hidden(e.model, train, e.norm, ptrs, cfg);
  e.embed_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  e.test = evaluate_model(e.model, test, e.norm);
  return e;
}

std::string save_hidden_embedding(const std::string& out, const std::vector<std::string>& keys_outs,
                                  HiddenEmbedded& e, uint64_t seed, const std::string& dataset,
                                  std::vector<std::string>* keys_sha) {
  SIGNET_CHECK(keys_outs.size() == e.keys.size(), "{} keys files for {} key sets", keys_outs.size(), e.keys.size());
  save_model(out, e.model, e.norm, {{"signet.seed", std::to_string(seed)}, {"signet.dataset", dataset}});
  const std::string model_sha = sha256_hex(read_file(out));
  for (size_t i = 0; i < e.keys.size(); ++i) {
    e.keys[i].extra["signet.marked_model_sha256"] = model_sha;
    const std::string sha = save_hidden_keys(keys_outs[i], e.keys[i]);
    if (keys_sha) keys_sha->push_back(sha);
  }
  return model_sha;
}

OutputEmbedded embed_output_recipe(Model model, Normalization norm, const Dataset& train, const Dataset& test,
                                   OutputConfig oc, const TrainConfig& cfg) {
  if (norm.mean.empty()) norm = normalization_of(train);
  oc.seed = cfg.seed;
  OutputEmbedded e{std::move(model), norm, {}, {}, {}, {}, {}, 0};
  e.before = evaluate_model(e.model, test, e.norm);
  const auto t0 = std::chrono::steady_clock::now();
  e.keys = embed_output(e.model, train, e.norm, oc, cfg, &e.report);
  e.embed_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  e.after = evaluate_model(e.model, test, e.norm);
  LocalModelOracle self(e.model, e.norm, "marked model");
  e.self = verify_output(self, e.keys);
  return e;
}

std::string save_output_embedding(const std::string& out, const std::string& keys_out, const std::string& from,
                                  OutputEmbedded& e, uint64_t seed, const std::string& dataset) {
  save_model(out, e.model, e.norm,
             {{"signet.seed", std::to_string(seed)}, {"signet.dataset", dataset},
              {"signet.watermark", "deepsigns-output"}});
  e.keys.extra["signet.unmarked_model_sha256"] = sha256_hex(read_file(from));
  e.keys.extra["signet.marked_model_sha256"] = sha256_hex(read_file(out));
  return save_output_keys(keys_out, e.keys);
}

}  // namespace signet
