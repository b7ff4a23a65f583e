// signet extract: reads the watermark of one or more suspect models with the owner's keys and
// decides, for each, whether ownership is proven (p-value <= alpha).
// --align (reference activations stored in the keys file) or --align-to MARKED.safetensors (the
// owner's marked model, for keys files without them) also extracts after aligning the suspect's
// units to the marked model's (watermark/deepsigns/align.h): the feature-permutation attack
// scrambles the plain extraction but not the aligned one. The aligned bits are reported, never
// a decision: unrelated models also show the reference's bits after alignment (see the integrity
// warning in align.h), so ownership is decided on the plain extraction only.
#include <memory>

#include "cli/commands.h"
#include "cli/common.h"
#include "engine/serialize/atomic_file.h"
#include "watermark/deepsigns/align.h"
#include "watermark/deepsigns/hidden.h"

namespace signet::cli {

void register_extract(CLI::App& app) {
  struct Args {
    std::string keys, align_to;
    std::vector<std::string> weights;
    double alpha = 1e-6;
    int threads = 0;
    bool json = false, align = false;
  };
  auto a = std::make_shared<Args>();
  auto* c = app.add_subcommand("extract", "Extract a hidden-layer watermark from suspect models and decide ownership");
  c->add_option("--keys", a->keys, "the owner's keys file")->required();
  c->add_option("--weights", a->weights, "suspect model(s) (.safetensors); repeat to compare several")->required();
  c->add_option("--alpha", a->alpha, "significance level for claiming ownership")->capture_default_str();
  c->add_flag("--align", a->align,
              "also report the bits after aligning the suspect's units to the marked model's (reference "
              "activations stored in the keys file): undoes a feature permutation; not an ownership test");
  c->add_option("--align-to", a->align_to,
                "like --align, with the reference taken from this marked model (keys files without reference "
                "activations)");
  c->add_option("--threads", a->threads, "threads (0: all cores)");
  c->add_flag("--json", a->json, "print one JSON object on stdout");
  c->callback([a] {
    set_threads(a->threads);
    SIGNET_CHECK(a->alpha > 0 && a->alpha < 1, "--alpha must be in (0, 1), got {}", a->alpha);
    std::string keys_sha;
    const HiddenKeys keys = load_hidden_keys(a->keys, &keys_sha);
    ModelConfig fallback;
    fallback.input_shape = Shape(keys.key_inputs.shape().begin() + 1, keys.key_inputs.shape().end());
    if (keys.mu.defined()) fallback.num_classes = keys.mu.size(0);
    const bool aligned = a->align || !a->align_to.empty();
    Tensor reference;
    if (!a->align_to.empty()) {
      Model marked = load_model(a->align_to, keys.model, nullptr, &fallback);
      reference = get_activations(marked, keys.key_inputs, keys.norm, keys.layer);
    } else if (a->align) {
      SIGNET_CHECK(keys.ref_activations.defined(),
                   "{}: the keys file holds no reference activations (made before they were stored): pass the "
                   "owner's marked model with --align-to MARKED.safetensors instead of --align",
                   a->keys);
      reference = keys.ref_activations;
    }
    nlohmann::json results = nlohmann::json::array();
    for (const std::string& w : a->weights) {
      Model model = load_model(w, keys.model, nullptr, &fallback);
      const HiddenEvidence ev = extract_hidden(model, keys);
      nlohmann::json r = {{"weights", w}, {"weights_sha256", sha256_hex(read_file(w))}, {"bits", ev.total},
                          {"matches", ev.matches}, {"ber", ev.ber}, {"p_value", ev.p_value},
                          {"ownership_proven", ev.p_value <= a->alpha}};
      if (aligned) {
        const AlignedExtraction al = align_and_extract(model, keys, reference);
        r["aligned_ber"] = al.evidence.ber;
        r["aligned_matches"] = al.evidence.matches;
        r["alignment_residual"] = al.residual;
      }
      results.push_back(r);
    }
    const nlohmann::json head = {{"command", "extract"}, {"scheme", "deepsigns-hidden"}, {"keys", a->keys},
                                 {"keys_sha256", keys_sha}, {"layer", keys.layer}, {"alpha", a->alpha},
                                 {"aligned", aligned}};
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
    std::printf("keys %s (sha256 %s), layer %s, %lld bits, ownership when p <= %.0e\n", a->keys.c_str(),
                keys_sha.c_str(), keys.layer.c_str(), static_cast<long long>(keys.b.numel()), a->alpha);
    size_t width = 7;
    for (const auto& w : a->weights) width = std::max(width, w.size());
    std::printf("  %-*s  %7s  %9s  %9s  %s\n", static_cast<int>(width), "suspect", "BER", "matching", "p-value", "decision");
    for (const auto& r : results) {
      std::printf("  %-*s  %7.4f  %4lld/%-4lld  %9.3g  %s\n", static_cast<int>(width), r["weights"].get<std::string>().c_str(),
                  r["ber"].get<double>(), static_cast<long long>(r["matches"].get<int64_t>()),
                  static_cast<long long>(r["bits"].get<int64_t>()), r["p_value"].get<double>(),
                  r["ownership_proven"].get<bool>() ? "OWNERSHIP PROVEN" : "not claimed");
      if (aligned)
        std::printf("  %-*s  %7.4f  %4lld/%-4lld  %9s  residual %.3g (aligned: not an ownership test)\n",
                    static_cast<int>(width), "  (aligned)", r["aligned_ber"].get<double>(),
                    static_cast<long long>(r["aligned_matches"].get<int64_t>()),
                    static_cast<long long>(r["bits"].get<int64_t>()), "", r["alignment_residual"].get<double>());
    }
  });
}

}  // namespace signet::cli
