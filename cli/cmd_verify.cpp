// signet verify: black-box evidence. Each suspect model is queried as a service would answer
// (labels, or class scores) with the owner's key inputs, for any scheme that can be verified
// from answers alone; the decision is the scheme's exact test at alpha. --certificate checks the
// owner's signed claim first (cli/claims.h).
// --query-noise / --perturb-scores / --round-scores put the suspect behind an attacked service
// (watermark/attacks/oracle_attacks.h): noise on the queries it receives, noise on and rounding
// of the class scores it answers (its labels are then the argmax of the changed scores).
#include <cmath>
#include <memory>

#include "cli/claims.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "engine/serialize/atomic_file.h"
#include "watermark/attacks/oracle_attacks.h"

namespace signet::cli {

void register_verify(CLI::App& app) {
  struct Args {
    std::string keys, model, certificate, owner_key;
    std::vector<std::string> weights;
    double alpha = 0, confidence = -1, query_noise = 0, perturb_scores = 0;
    int round_scores = -1;
    uint64_t oracle_seed = 1;
    int threads = 0;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  auto* c = app.add_subcommand("verify", "Query suspect models as black boxes with the owner's keys and decide");
  c->add_option("--keys", a->keys, "the owner's keys file (a scheme with black-box verification)")->required();
  c->add_option("--weights", a->weights, "suspect model(s) (.safetensors); repeat to compare several")->required();
  c->add_option("--model", a->model, "model name for suspect files without Signet metadata (e.g. PyTorch's)");
  c->add_option("--alpha", a->alpha, "significance level for claiming ownership (default: the keys')");
  c->add_option("--confidence", a->confidence, "the same as 1 - alpha (DeepSigns' decision threshold p of Eq. (5))");
  c->add_option("--certificate", a->certificate, "the owner's signed claim (signet certify): checked first");
  c->add_option("--owner-key", a->owner_key, "NAME.pub: the certificate must be signed by this identity");
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
    SIGNET_CHECK(a->confidence == -1 || (a->confidence > 0 && a->confidence < 1),
                 "--confidence must be in (0, 1), got {}", a->confidence);
    SIGNET_CHECK(a->alpha == 0 || (a->alpha > 0 && a->alpha < 1), "--alpha must be in (0, 1), got {}", a->alpha);
    SIGNET_CHECK(a->alpha == 0 || a->confidence == -1, "give --alpha or --confidence, not both");
    const double alpha = a->confidence != -1 ? 1 - a->confidence : a->alpha;
    const ClaimContext ctx = open_claim("verify", a->keys, alpha, a->certificate, a->owner_key);
    const Scheme& scheme = *ctx.keys.scheme;
    SIGNET_CHECK(scheme.info().black_box, "{} keys need the suspect's weights, not an API's answers: use `signet "
                 "extract`", scheme.info().name);
    const ModelConfig fallback = ctx.keys.keys->suspect_config();
    std::vector<SuspectEvidence> results;
    for (const std::string& w : a->weights) {
      auto local = std::make_shared<LocalModelOracle>(w, ctx.keys.keys->norm(), a->model, &fallback);
      std::shared_ptr<Oracle> oracle = local;
      // Each suspect's service draws its own noise from the same seed (the same attack on each).
      if (a->query_noise > 0) oracle = std::make_shared<InputNoiseOracle>(oracle, a->query_noise, a->oracle_seed);
      if (a->perturb_scores > 0)
        oracle = std::make_shared<ScorePerturbationOracle>(oracle, a->perturb_scores, a->oracle_seed + 1);
      if (a->round_scores >= 0) oracle = std::make_shared<ScoreRoundingOracle>(oracle, a->round_scores);
      SuspectEvidence r{w, sha256_hex(read_file(w)), scheme.query(*oracle, *ctx.keys.keys, ctx.alpha), {}, {}};
      r.extra = {{"oracle", oracle->describe()}, {"model", local->model().name}, {"queries", oracle->queries()}};
      results.push_back(std::move(r));
    }
    report_claims(ctx, results, a->json);
  });
}

}  // namespace signet::cli
