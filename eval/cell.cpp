#include "eval/cell.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <memory>

#include "watermark/attacks/attacks.h"
#include "watermark/attacks/oracle_attacks.h"
#include "watermark/verify/stats.h"

namespace signet::eval {

namespace {
using Clock = std::chrono::steady_clock;

void set_size_column(Row& r, const std::string& column, int64_t n) {
  if (column == "bits") r.bits = n;
  if (column == "keys") r.keys = n;
}

}  // namespace

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

Row cell_row(const Cell& c, const MarkedModel& mk, const RunContext& ctx) {
  Row r;
  r.config = ctx.cfg.name;
  r.dataset = ctx.cfg.dataset;
  r.model = c.model->label;
  r.scheme = c.wm.spec->scheme;
  r.watermark = c.wm.label;
  set_size_column(r, c.wm.spec->impl->info().size_option, c.wm.n);
  r.attack = attack_name(c);
  r.strength = c.strength;
  r.seed = c.seed;
  r.marked_accuracy = mk.accuracy;
  r.unmarked_accuracy = mk.unmarked_accuracy;
  r.embed_seconds = mk.embed_seconds;
  return r;
}

Row embedding_failed_row(const Cell& c, const RunContext& ctx, const std::string& why) {
  Row r = cell_row(c, MarkedModel{}, ctx);
  r.marked_accuracy = r.unmarked_accuracy = r.embed_seconds = kNaN;
  if (c.suspect) r.suspect = fmt::format("{}-s{}", c.suspect->label, c.suspect_seed);
  r.metric = "embedding_failed";
  r.detected = c.suspect ? -1 : 0;
  r.note = "no marked model: " + why;
  return r;
}

namespace {

void fill(Row& r, const Evidence& ev) {
  r.metric = ev.metric;
  r.value = ev.value;
  r.threshold = ev.threshold;
  r.p_value = ev.p_value;
  r.detected = ev.claimed;
  if (std::isnan(r.threshold)) {
    // Too few bits (or keys) for any claim at alpha (N = 4: p >= 1/16): no decision, so no attack
    // can "succeed" against it either; the statistic is still reported.
    r.detected = -1;
    r.note = fmt::format("{} of size {} cannot reach p <= alpha: {} only, no decision", r.scheme, ev.total, ev.metric);
  }
}

TrainConfig attack_train(const AttackSpec& a, int64_t epochs, uint64_t seed) {
  TrainConfig t;
  t.optimizer = a.optimizer;
  t.lr = static_cast<float>(a.lr);
  t.schedule = "constant";
  t.epochs = epochs;
  t.seed = seed;
  t.progress = false;
  return t;
}

double oracle_accuracy(Oracle& o, const Dataset& test) {
  int64_t correct = 0;
  const int64_t n = test.size(), step = 1000;
  for (int64_t i = 0; i < n; i += step) {
    const int64_t len = std::min(step, n - i);
    const Tensor pred = o.labels(test.images.narrow_view(0, i, len).contiguous());
    for (int64_t k = 0; k < len; ++k) correct += pred.i64()[k] == test.labels.i64()[i + k];
  }
  return n ? static_cast<double>(correct) / static_cast<double>(n) : 0;
}

std::shared_ptr<Oracle> make_oracle(const std::string& attack, double s, uint64_t seed, Model model,
                                    const Normalization& norm) {
  std::shared_ptr<Oracle> o = std::make_shared<LocalModelOracle>(std::move(model), norm, "suspect");
  if (attack == "input-noise") return std::make_shared<InputNoiseOracle>(o, s, seed);
  if (attack == "score-rounding") return std::make_shared<ScoreRoundingOracle>(o, static_cast<int>(s));
  if (attack == "score-perturbation") return std::make_shared<ScorePerturbationOracle>(o, s, seed);
  return o;
}
// The attacker embeds its own mark of the owner's scheme over the owner's, on `model` in place:
// the owner's options (it knows the method and the settings that embed a mark in this model),
// not the owner's personal ones (a signature string), at the attack's size; its keys from the key
// seed = the cell's seed + 1000. Returns the attacker's keys.
std::shared_ptr<SchemeKeys> overwrite(const Cell& c, Model& model, const Normalization& norm, const Dataset& train,
                                      const Dataset& test) {
  const AttackSpec& a = *c.attack;
  const Scheme& scheme = *c.wm.spec->impl;
  const SchemeParams owner = model_params(c.wm, c.model->name);
  SchemeParams params = scheme.params();
  for (const SchemeOption& o : scheme.options())
    if (!o.personal) params.set(o.name, owner.text(o.name));
  if (a.attacker_size > 0) params.set(scheme.info().size_option, std::to_string(a.attacker_size));
  KeyRandomness kr;
  kr.key_seed = c.seed + 1000;
  kr.domain = "attacker/" + params.canonical();
  const TrainConfig tc = attack_train(a, static_cast<int64_t>(c.strength), c.seed + 1000);
  EmbedJob job{std::move(model), norm, true, &train, nullptr, tc, params, kr, nullptr};
  Embedded e = scheme.embed(std::move(job));
  model = std::move(e.model);
  return e.keys.at(0);
}
}  // namespace

void run_cell(const Cell& c, const MarkedModel& mk, RunContext& ctx, CumulativeState& state, std::vector<Row>& out) {
  const AttackSpec& a = *c.attack;
  const std::string& name = a.attack;
  const auto t0 = Clock::now();
  Row row = cell_row(c, mk, ctx);
  const Dataset& train = ctx.data.train;
  auto train_set = [&]() { return random_subset(train, a.samples, c.seed, "samples"); };

  Model owned;                    // the attacked model (or the suspect)
  Model* suspect = &owned;
  Normalization norm = mk.norm;
  double accuracy = kNaN;
  const Scheme& scheme = *mk.scheme;
  std::shared_ptr<SchemeKeys> keys = mk.keys;
  std::shared_ptr<SchemeKeys> attacker_keys;
  std::string note;

  if (name == "unmarked") {
    const BaseModel& b = ctx.cache.base(*c.suspect, c.suspect_seed);
    owned = clone_model(b.model);
    norm = b.norm;
    accuracy = b.accuracy;
    row.suspect = fmt::format("{}-s{}", c.suspect->label, c.suspect_seed);
    row.marked_accuracy = kNaN;
    keys = scheme.for_suspect(mk.keys, owned);
  } else if (name == "control") {
    // The unmarked model the mark was fine-tuned into, trained as long at the embedding's rate on
    // the whole training set without the keys: what the extra training alone does to accuracy, and
    // a suspect the keys must not claim although it shares the marked model's start.
    const EmbedPlan p = embed_plan(*c.model, c.wm, c.seed);
    SIGNET_CHECK(p.from_base, "attack \"control\" applies to marks that fine-tune a trained model; {} trains {} "
                 "from scratch (its control is the unmarked model itself: attack \"unmarked\")",
                 c.wm.label, c.model->label);
    const BaseModel& b = ctx.cache.base(*c.model, p.base_seed);
    owned = clone_model(b.model);
    norm = b.norm;
    const int64_t epochs = mk.epochs_trained > 0 ? mk.epochs_trained : p.epochs;
    TrainConfig t;
    t.optimizer = c.model->optimizer;
    t.lr = static_cast<float>(p.lr);
    t.schedule = "constant";
    t.epochs = epochs;
    t.seed = c.seed;
    t.progress = false;
    finetune_attack(owned, train, norm, t);
    row.suspect = fmt::format("{}-s{} + {} epoch{} without keys", c.model->label, p.base_seed, epochs,
                              epochs == 1 ? "" : "s");
    note = fmt::format("the marked model's start fine-tuned {} epoch{} at lr {:g} without the keys", epochs,
                       epochs == 1 ? "" : "s", p.lr);
  } else if (name == "finetune" && a.cumulative) {
    const std::string key = fmt::format("{}|{}|{}|{}", c.model->label, c.wm.label, c.seed, static_cast<const void*>(&a));
    if (state.key != key || state.epochs > c.strength) {
      state.key = key;
      state.model = clone_model(mk.model);
      state.epochs = 0;
    }
    const int64_t more = static_cast<int64_t>(c.strength - state.epochs);
    const Dataset ts = train_set();
    finetune_attack(state.model, ts, norm, attack_train(a, more, c.seed + static_cast<uint64_t>(state.epochs)));
    state.epochs = c.strength;
    suspect = &state.model;
    note = "cumulative";
  } else {
    owned = clone_model(mk.model);
    if (name == "finetune") {
      finetune_attack(owned, train_set(), norm, attack_train(a, static_cast<int64_t>(c.strength), c.seed));
    } else if (name == "prune") {
      const PruneReport rep = prune_magnitude(owned, c.strength);
      if (a.finetune_epochs > 0)
        sparse_finetune(owned, rep, train_set(), norm, attack_train(a, a.finetune_epochs, c.seed));
      note = fmt::format("pruned {:.2f}% of {} weights", 100 * rep.fraction(), rep.total);
    } else if (name == "quantize") {
      const QuantizeReport rep = quantize_weights(owned, static_cast<int>(c.strength));
      note = fmt::format("{} tensors, largest change {:.3g}", rep.tensors, rep.max_abs_error);
    } else if (name == "permute") {
      // [] = the mark's layer; ["all"] = every hidden layer the attack supports.
      std::vector<std::string> layers =
          a.layers.empty() ? std::vector<std::string>{mark_layer(c.wm, c.model->name)} : a.layers;
      if (layers == std::vector<std::string>{"all"}) layers.clear();
      const PermuteReport rep = permute_units(owned, layers, c.seed);
      note = fmt::format("permuted {}", fmt::join(rep.taps, ", "));
    } else if (name == "overwrite") {
      attacker_keys = overwrite(c, owned, norm, train_set(), ctx.data.test);
    } else if (name == "distill") {
      // The thief queries the marked model as a service and trains its own model on the answers.
      LocalModelOracle teacher(std::move(owned), norm, "stolen model");
      Rng init(c.seed + 2000);
      owned = build_model(a.student.empty() ? c.model->name : a.student, mk.model.config, init);
      DistillConfig dc;
      dc.answers = a.answers;
      dc.queries = a.samples;
      dc.train = attack_train(a, static_cast<int64_t>(c.strength), c.seed + 2000);
      const DistillReport rep = distill_attack(teacher, owned, train, norm, dc);
      note = fmt::format("{} {} queries, student {} agrees on {:.1f}%", rep.queries, a.answers, owned.name,
                         100 * rep.agreement);
    }
  }

  const SchemeInfo& info = scheme.info();
  const double alpha = ctx.cfg.alpha > 0 ? ctx.cfg.alpha : scheme.default_alpha(*keys);
  // Schemes with black-box verification are verified through the oracle, as a service would be.
  std::shared_ptr<Oracle> oracle;
  if (info.black_box) oracle = make_oracle(name, c.strength, c.seed, *suspect, norm);
  // Test accuracy: the marked model's is known; oracle attacks measure the service's answers.
  if (std::isnan(accuracy)) {
    if (name == "none") accuracy = mk.accuracy;
    else if (oracle_attack(name)) accuracy = oracle_accuracy(*oracle, ctx.data.test);
    else accuracy = evaluate_model(*suspect, ctx.data.test, norm).accuracy;
  }
  row.test_accuracy = accuracy;
  row.note = note;
  const bool attacked = name != "none" && name != "unmarked" && name != "control";

  auto finish = [&](Row r) {
    if (attacked && r.detected >= 0 && r.extraction != "attacker")
      r.attack_success = (r.marked_accuracy - r.test_accuracy <= 0.05) && !r.detected;
    r.seconds = seconds_since(t0);
    out.push_back(r);
  };
  if (oracle) {
    Row r = row;
    r.extraction = "labels";
    fill(r, scheme.query(*oracle, *keys, alpha));
    finish(r);
  } else {
    for (const std::string& ex : a.extraction) {
      Row r = row;
      r.extraction = ex;
      if (ex == "aligned") {
        // The aligned statistic is reported without a decision: the assignment pulls unrelated
        // models onto the owner's reference too, so its binomial p-value is not calibrated
        // (README, "undoing a permutation"). Ownership stays decided by the plain extraction.
        SIGNET_CHECK(scheme.can_align(), "extraction \"aligned\": scheme {} has no aligned extraction", info.name);
        // The reference is the marked model's activations, stored in the keys when they were made.
        fill(r, scheme.extract_aligned(*suspect, *keys, nullptr));
        r.threshold = r.p_value = kNaN;
        r.detected = -1;
        r.note = (row.note.empty() ? "" : row.note + "; ") + "aligned: BER only, no ownership decision";
      } else {
        fill(r, scheme.extract(*suspect, norm, *keys, alpha));
      }
      finish(r);
    }
  }
  if (attacker_keys) {
    Row r = row;
    r.extraction = "attacker";
    fill(r, scheme.extract(*suspect, norm, *attacker_keys, scheme.default_alpha(*attacker_keys)));
    finish(r);
  }
}

}  // namespace signet::eval
