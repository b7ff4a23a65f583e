// signet verify: black-box evidence. Each suspect model is queried as a service would answer
// (labels, or class scores) with the owner's key inputs, for any scheme that can be verified
// from answers alone; the decision is the scheme's exact test at alpha. --certificate checks the
// owner's signed claim first (cli/claims.h).
// --query-noise / --perturb-scores / --round-scores put the suspect behind an attacked service
// (watermark/attacks/oracle_attacks.h): noise on the queries it receives, noise on and rounding
// of the class scores it answers (its labels are then the argmax of the changed scores).
// --remote queries a deployed model over HTTP instead (`signet serve`, serve/http_oracle.h): the
// same decision, plus the queries it cost and the endpoint; the served model must take the
// keys' input shape and answer their classes.
#include <cmath>
#include <memory>

#include "cli/claims.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "cli/finite_weights.h"
#include "engine/serialize/atomic_file.h"
#include "engine/serialize/file_read.h"
#include "serve/client_gate.h"
#include "serve/http_oracle.h"
#include "watermark/attacks/oracle_attacks.h"

namespace signet::cli {

void register_verify(CLI::App& app) {
  struct Args {
    std::string keys, model, certificate, owner_key, remote, api_key_file;
    std::vector<std::string> weights;
    ModelFileFlags file;
    double alpha = 0, confidence = -1;
    ServiceAttack attack;
    int64_t max_queries = 0;
    int threads = 0;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  auto* c = app.add_subcommand("verify", "Query suspect models as black boxes with the owner's keys and decide");
  c->add_option("--keys", a->keys, "the owner's keys file (a scheme with black-box verification)")->required();
  // One of --weights and --remote: checked in the callback (exit 1, like every other combination
  // of flags), not by the parser.
  c->add_option("--weights", a->weights, "suspect model(s) (.safetensors); repeat to compare several");
  c->add_option("--remote", a->remote,
                "a suspect served over HTTP: http://HOST:PORT (signet serve); not with --weights");
  c->add_option("--api-key-file", a->api_key_file, "--remote: the bearer token the service asks for, in a file");
  c->add_option("--max-queries", a->max_queries, "--remote: refuse to send more inputs than this (0: no limit)");
  c->add_option("--model", a->model, "model name for suspect files without Signet metadata (e.g. PyTorch's; "
                "default: recognised from their tensors)");
  add_model_file_flags(c, a->file);
  c->add_option("--alpha", a->alpha, "significance level for claiming ownership (default: the keys')");
  c->add_option("--confidence", a->confidence, "the same as 1 - alpha (DeepSigns' decision threshold p of Eq. (5))");
  c->add_option("--certificate", a->certificate, "the owner's signed claim (signet certify): checked first");
  c->add_option("--owner-key", a->owner_key, "NAME.pub: the certificate must be signed by this identity");
  c->add_option("--query-noise", a->attack.query_noise,
                "attacked service: Gaussian noise of this std added to every query pixel (default 0: none)");
  c->add_option("--perturb-scores", a->attack.perturb_scores,
                "attacked service: Gaussian noise of this std added to its class scores, then clamped and "
                "renormalised (default 0: none)");
  c->add_option("--round-scores", a->attack.round_scores,
                "attacked service: class scores rounded to this many decimals (0 to 8; after --perturb-scores)");
  c->add_option("--oracle-seed", a->attack.seed, "seed of the service's noise")->capture_default_str();
  c->add_option("--threads", a->threads, "threads (0: all cores)");
  c->add_flag("--json", a->json, "print one JSON object on stdout");
  c->callback([a] {
    set_threads(a->threads);
    SIGNET_CHECK(a->weights.empty() != a->remote.empty(),
                 "give the suspect as --weights FILE (a model file) or --remote http://HOST:PORT (a served model)");
    SIGNET_CHECK(!a->remote.empty() || (a->api_key_file.empty() && a->max_queries == 0),
                 "--api-key-file and --max-queries go with --remote");
    check_service_attack(a->attack);
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
    if (!a->remote.empty()) {
      serve::HttpOracleOptions ho;
      ho.endpoint = a->remote;
      ho.max_queries = a->max_queries;
      if (!a->api_key_file.empty()) ho.api_key = serve::read_api_key_file(a->api_key_file);
      auto http = std::make_shared<serve::HttpOracle>(ho);
      http->expect(fallback);
      std::shared_ptr<Oracle> oracle = attacked_service(http, a->attack);
      // The weights' hash is the one the service reports: a remote verifier cannot check it.
      SuspectEvidence r{a->remote, http->weights_sha256(), scheme.query(*oracle, *ctx.keys.keys, ctx.alpha), {}, {}};
      r.extra = {{"oracle", oracle->describe()}, {"model", http->model_name()}, {"queries", http->queries()},
                 {"endpoint", a->remote}, {"retries", http->retries()}};
      results.push_back(std::move(r));
    }
    for (const std::string& w : a->weights) {
      // Suspects without Signet metadata: the keys' input shape when it fits their weights, and the
      // keys' normalisation unless --input-mean / --input-std say otherwise.
      Normalization norm;
      std::string sha;
      Model m = load_model(w, model_hints(a->model, a->file, fallback.input_shape, "the keys"), &norm, nullptr, &sha);
      require_finite(m, w);
      if (norm.mean.empty()) norm = ctx.keys.keys->norm();
      auto local = std::make_shared<LocalModelOracle>(std::move(m), norm, w);
      // Each suspect's service draws its own noise from the same seed (the same attack on each).
      std::shared_ptr<Oracle> oracle = attacked_service(local, a->attack);
      SuspectEvidence r{w, sha, scheme.query(*oracle, *ctx.keys.keys, ctx.alpha), {}, {}};
      r.extra = {{"oracle", oracle->describe()}, {"model", local->model().name}, {"queries", oracle->queries()}};
      results.push_back(std::move(r));
    }
    report_claims(ctx, results, a->json);
  });
}

}  // namespace signet::cli
