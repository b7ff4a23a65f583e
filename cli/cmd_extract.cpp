// signet extract: white-box evidence. Reads the owner's watermark (any scheme whose keys are
// given) from one or more suspect model files and decides, for each, whether ownership is
// proven (p <= alpha). --certificate checks the owner's signed claim first (cli/claims.h).
// --align (reference activations stored in the keys) or --align-to MARKED.safetensors also
// extracts after aligning the suspect's units to the marked model's, for schemes that can: the
// feature-permutation attack scrambles the plain extraction but not the aligned one. The aligned
// result is reported, never decided on: unrelated models also show the reference's bits after
// alignment, so ownership is decided on the plain extraction only.
#include <memory>

#include "cli/claims.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "cli/finite_weights.h"
#include "engine/serialize/atomic_file.h"
#include "engine/serialize/file_read.h"

namespace signet::cli {

void register_extract(CLI::App& app) {
  struct Args {
    std::string keys, align_to, model, certificate, owner_key;
    std::vector<std::string> weights;
    ModelFileFlags file;
    double alpha = 0;
    int threads = 0;
    bool json = false, align = false;
  };
  auto a = std::make_shared<Args>();
  auto* c = app.add_subcommand("extract", "Extract a watermark from suspect models (white-box) and decide ownership");
  c->add_option("--keys", a->keys, "the owner's keys file")->required();
  c->add_option("--weights", a->weights, "suspect model(s) (.safetensors); repeat to compare several")->required();
  c->add_option("--model", a->model, "model name for suspect files without Signet metadata (e.g. PyTorch's; "
                "default: recognised from their tensors)");
  add_model_file_flags(c, a->file);
  c->add_option("--alpha", a->alpha, "significance level for claiming ownership (default: the scheme's)");
  c->add_option("--certificate", a->certificate, "the owner's signed claim (signet certify): checked first");
  c->add_option("--owner-key", a->owner_key, "NAME.pub: the certificate must be signed by this identity");
  c->add_flag("--align", a->align,
              "also report the evidence after aligning the suspect's units to the marked model's (reference "
              "stored in the keys file): undoes a feature permutation; not an ownership test");
  c->add_option("--align-to", a->align_to,
                "like --align, with the reference taken from this marked model (keys files without one)");
  c->add_option("--threads", a->threads, "threads (0: all cores)");
  c->add_flag("--json", a->json, "print one JSON object on stdout");
  c->callback([a] {
    set_threads(a->threads);
    SIGNET_CHECK(a->alpha == 0 || (a->alpha > 0 && a->alpha < 1), "--alpha must be in (0, 1), got {}", a->alpha);
    const ClaimContext ctx = open_claim("extract", a->keys, a->alpha, a->certificate, a->owner_key);
    const Scheme& scheme = *ctx.keys.scheme;
    SIGNET_CHECK(scheme.info().white_box, "{} keys are verified from an API's answers: use `signet verify`",
                 scheme.info().name);
    const bool aligned = a->align || !a->align_to.empty();
    SIGNET_CHECK(!aligned || scheme.can_align(), "scheme {} has no unit-aligned extraction (--align)",
                 scheme.info().name);
    // Suspects without Signet metadata are read with the keys' input shape when it fits their
    // weights, and the keys' normalisation unless --input-mean / --input-std say otherwise.
    const Shape keys_shape = ctx.keys.keys->suspect_config().input_shape;
    const std::string expect = a->model.empty() ? ctx.keys.keys->model() : a->model;
    std::unique_ptr<Model> marked;
    if (!a->align_to.empty()) {
      const ModelFileFlags shape_only{a->file.input_shape, "", ""};  // the reference's normalisation is not used
      marked = std::make_unique<Model>(
          load_model(a->align_to, model_hints(expect, shape_only, keys_shape, "the keys"), nullptr));
    }
    std::vector<SuspectEvidence> results;
    for (const std::string& w : a->weights) {
      Normalization norm;
      std::string sha;
      Model model = load_model(w, model_hints(a->model, a->file, keys_shape, "the keys"), &norm, nullptr, &sha);
      require_finite(model, w);
      if (norm.mean.empty()) norm = ctx.keys.keys->norm();
      const auto keys = scheme.for_suspect(ctx.keys.keys, model);
      SuspectEvidence r{w, sha, scheme.extract(model, norm, *keys, ctx.alpha), {}, {}};
      r.extra = {{"model", model.name}};
      if (aligned) r.aligned = scheme.extract_aligned(model, *keys, marked.get());
      results.push_back(std::move(r));
    }
    report_claims(ctx, results, a->json);
  });
}

}  // namespace signet::cli
