// signet verify: black-box verification of the DeepSigns output-layer watermark (paper Section
// 3.2.2). Each suspect model is queried, as a label oracle only, with the owner's key inputs;
// the number of mismatches against the key labels is compared with theta from Eq. (5).
// --query-noise / --perturb-scores / --round-scores put the suspect behind an attacked service
// (watermark/attacks/oracle_attacks.h): noise on the queries it receives, noise on and rounding
// of the class scores it answers (its labels are then the argmax of the changed scores).
#include <cmath>
#include <memory>

#include "cli/commands.h"
#include "cli/common.h"
#include "engine/serialize/atomic_file.h"
#include "watermark/attacks/oracle_attacks.h"
#include "watermark/deepsigns/output.h"

namespace signet::cli {

void register_verify(CLI::App& app) {
  struct Args {
    std::string keys, model;
    std::vector<std::string> weights;
    double confidence = -1, query_noise = 0, perturb_scores = 0;
    int round_scores = -1;
    uint64_t oracle_seed = 1;
    int threads = 0;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  auto* c = app.add_subcommand("verify", "Query suspect models with output-layer (black-box) watermark keys and decide");
  c->add_option("--keys", a->keys, "the owner's keys file (from `signet embed --scheme deepsigns-output`)")->required();
  c->add_option("--weights", a->weights, "suspect model(s) (.safetensors); repeat to compare several")->required();
  c->add_option("--model", a->model, "model name for suspect files without Signet metadata (e.g. PyTorch's)");
  c->add_option("--confidence", a->confidence, "decision threshold p of Eq. (5) (default: the keys file's, 0.999)");
  c->add_option("--query-noise", a->query_noise,
                "attacked service: Gaussian noise of this std added to every query pixel (default 0: none)");
  c->add_option("--perturb-scores", a->perturb_scores,
                "attacked service: Gaussian noise of this std added to its class scores, then clamped and "
                "renormalised (default 0: none)");
  c->add_option("--round-scores", a->round_scores,
                "attacked service: class scores rounded to this many decimals (0 to 8; after --perturb-scores)");
  c->add_option("--oracle-seed", a->oracle_seed, "seed of the service's noise")->capture_default_str();
  c->add_option("--threads", a->threads, "threads (0: all cores)");
  c->add_flag("--json", a->json, "print one JSON object on stdout");
  c->callback([a] {
    set_threads(a->threads);
    SIGNET_CHECK(std::isfinite(a->query_noise) && a->query_noise >= 0, "--query-noise must be >= 0, got {}",
                 a->query_noise);
    SIGNET_CHECK(std::isfinite(a->perturb_scores) && a->perturb_scores >= 0, "--perturb-scores must be >= 0, got {}",
                 a->perturb_scores);
    SIGNET_CHECK(a->round_scores == -1 || (a->round_scores >= 0 && a->round_scores <= 8),
                 "--round-scores must be between 0 and 8 decimals, got {}", a->round_scores);
    std::string keys_sha;
    OutputKeys keys = load_output_keys(a->keys, &keys_sha);
    if (a->confidence != -1) {
      SIGNET_CHECK(a->confidence > 0 && a->confidence < 1, "--confidence must be in (0, 1), got {}", a->confidence);
      keys.confidence = a->confidence;
    }
    const int64_t theta = compute_mismatch_threshold(keys.confidence, keys.size(), keys.num_classes);
    ModelConfig fallback;
    fallback.input_shape = Shape(keys.key_inputs.shape().begin() + 1, keys.key_inputs.shape().end());
    fallback.num_classes = keys.num_classes;
    nlohmann::json results = nlohmann::json::array();
    for (const std::string& w : a->weights) {
      auto local = std::make_shared<LocalModelOracle>(w, keys.norm, a->model, &fallback);
      std::shared_ptr<Oracle> oracle = local;
      // Each suspect's service draws its own noise from the same seed (the same attack on each).
      if (a->query_noise > 0) oracle = std::make_shared<InputNoiseOracle>(oracle, a->query_noise, a->oracle_seed);
      if (a->perturb_scores > 0)
        oracle = std::make_shared<ScorePerturbationOracle>(oracle, a->perturb_scores, a->oracle_seed + 1);
      if (a->round_scores >= 0) oracle = std::make_shared<ScoreRoundingOracle>(oracle, a->round_scores);
      const OutputEvidence ev = verify_output(*oracle, keys);
      results.push_back({{"weights", w}, {"weights_sha256", sha256_hex(read_file(w))}, {"oracle", oracle->describe()},
                         {"model", local->model().name}, {"queries", oracle->queries()}, {"keys_k", ev.keys},
                         {"matches", ev.matches}, {"mismatches", ev.mismatches}, {"theta", ev.theta},
                         {"p_value", ev.p_value}, {"detected", ev.detected}});
    }
    const nlohmann::json head = {{"command", "verify"}, {"scheme", "deepsigns-output"}, {"keys", a->keys},
                                 {"keys_sha256", keys_sha}, {"keys_k", keys.size()}, {"classes", keys.num_classes},
                                 {"confidence", keys.confidence}, {"theta", theta},
                                 {"decision", "detected when mismatches < theta"}};
    if (a->json) {
      nlohmann::json out = head;
      if (results.size() == 1) {
        out.update(results[0]);
      } else {
        out["results"] = results;
      }
      print_json(out);
      return;
    }
    std::printf("keys %s (sha256 %s): K = %lld keys, C = %lld classes, p = %g: detected when mismatches < theta = %lld\n",
                a->keys.c_str(), keys_sha.c_str(), static_cast<long long>(keys.size()),
                static_cast<long long>(keys.num_classes), keys.confidence, static_cast<long long>(theta));
    size_t width = 7;
    for (const auto& w : a->weights) width = std::max(width, w.size());
    std::printf("  %-*s  %10s  %5s  %9s  %s\n", static_cast<int>(width), "suspect", "mismatches", "theta", "p-value",
                "decision");
    for (const auto& r : results)
      std::printf("  %-*s  %5lld/%-4lld  %5lld  %9.3g  %s\n", static_cast<int>(width),
                  r["weights"].get<std::string>().c_str(), static_cast<long long>(r["mismatches"].get<int64_t>()),
                  static_cast<long long>(r["keys_k"].get<int64_t>()), static_cast<long long>(r["theta"].get<int64_t>()),
                  r["p_value"].get<double>(), r["detected"].get<bool>() ? "WATERMARK DETECTED" : "not detected");
  });
}

}  // namespace signet::cli
