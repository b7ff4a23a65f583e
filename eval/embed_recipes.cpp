#include "eval/embed_recipes.h"

#include <chrono>

#include "engine/serialize/atomic_file.h"
#include "engine/serialize/file_read.h"
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

std::vector<std::string> save_embedding(const std::string& out, const std::vector<std::string>& keys_outs,
                                        Embedded& e, uint64_t seed, const std::string& dataset,
                                        const std::string& from, std::string* model_sha) {
  SIGNET_CHECK(keys_outs.size() == e.keys.size(), "{} keys files for {} key sets", keys_outs.size(), e.keys.size());
  save_model(out, e.model, e.norm, {{"signet.seed", std::to_string(seed)}, {"signet.dataset", dataset}});
  const std::string marked_sha = sha256_hex(read_file(out));
  const std::string from_sha = from.empty() ? "" : sha256_hex(read_file(from));
  std::vector<std::string> shas;
  for (size_t i = 0; i < e.keys.size(); ++i) {
    e.keys[i]->provenance["signet.marked_sha256"] = marked_sha;
    if (!from_sha.empty()) e.keys[i]->provenance["signet.unmarked_sha256"] = from_sha;
    shas.push_back(save_keys(keys_outs[i], *e.keys[i]));
  }
  if (model_sha) *model_sha = marked_sha;
  return shas;
}

}  // namespace signet
