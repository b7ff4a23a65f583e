// signet extract: reads the watermark of a suspect model with the owner's keys and decides.
#include <memory>

#include "cli/commands.h"
#include "cli/common.h"
#include "engine/serialize/atomic_file.h"
#include "watermark/deepsigns/hidden.h"

namespace signet::cli {

void register_extract(CLI::App& app) {
  struct Args { std::string keys, weights; double alpha = 1e-6; int threads = 0; bool json = false; };
  auto a = std::make_shared<Args>();
  auto* c = app.add_subcommand("extract", "Extract a hidden-layer watermark from a suspect model and decide ownership");
  c->add_option("--keys", a->keys, "the owner's keys file")->required();
  c->add_option("--weights", a->weights, "the suspect model (.safetensors)")->required();
  c->add_option("--alpha", a->alpha, "significance level for claiming ownership")->capture_default_str();
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
    Model model = load_model(a->weights, keys.model, nullptr, &fallback);
    const HiddenEvidence ev = extract_hidden(model, keys);
    const bool owned = ev.p_value <= a->alpha;
    const std::string suspect_sha = sha256_hex(read_file(a->weights));
    if (a->json) {
      print_json({{"command", "extract"}, {"scheme", "deepsigns-hidden"}, {"weights", a->weights},
                  {"weights_sha256", suspect_sha}, {"keys", a->keys}, {"keys_sha256", keys_sha}, {"layer", keys.layer},
                  {"bits", ev.total}, {"matches", ev.matches}, {"ber", ev.ber}, {"p_value", ev.p_value},
                  {"alpha", a->alpha}, {"ownership_proven", owned}});
    } else {
      std::printf("%s: BER %.4f (%lld of %lld bits match), p-value %.3g -> %s (alpha %.0e)\n", a->weights.c_str(),
                  ev.ber, static_cast<long long>(ev.matches), static_cast<long long>(ev.total), ev.p_value,
                  owned ? "OWNERSHIP PROVEN" : "not claimed", a->alpha);
      std::printf("  keys %s sha256 %s\n", a->keys.c_str(), keys_sha.c_str());
    }
  });
}

}  // namespace signet::cli
