// signet embed: trains (or fine-tunes) a model with an owner's watermark and writes the marked
// model and the secret keys. Schemes: deepsigns-hidden (paper Section 3.1), deepsigns-output
// (Section 3.2: fine-tunes a trained --from model with random key images; verify with
// `signet verify`).
#include <memory>

#include "cli/commands.h"
#include "cli/common.h"
#include "eval/embed_recipes.h"
#include "models/recipes.h"

namespace signet::cli {

namespace {
struct EmbedArgs {
  std::string scheme = "deepsigns-hidden", model = "mnist-mlp", dataset = "fashion-mnist", data_dir, from, keys_out, out;
  HiddenConfig wm;
  OutputConfig out_cfg;
  TrainConfig cfg;
  float lr = -1;
  int threads = 0;
  bool json = false, quiet = false;
  bool epochs_given = false, layer_given = false, model_given = false;
};

// --scheme deepsigns-output: Algorithm 2 on a trained model (see watermark/deepsigns/output.h).

void run_embed_output(EmbedArgs a) {
  SIGNET_CHECK(!a.from.empty(),
               "--scheme deepsigns-output fine-tunes a trained model: pass --from trained.safetensors (make one "
               "with `signet train`)");
  const Dataset train = load_split(a.dataset, "train", a.data_dir);
  const Dataset test = load_split(a.dataset, "test", a.data_dir);
  Normalization norm;
  Model model = load_model(a.from, a.model_given ? a.model : "", &norm);
  TrainConfig cfg = a.cfg;
  cfg.lr = embed_schedule(model.name, false, a.lr).lr;  // a tenth of the training rate (paper: original / 10)
  if (!a.epochs_given) cfg.epochs = kOutputEpochLimit;  // the fine-tuning epoch limit over the keys + subset mixture
  cfg.progress = false;
  OutputConfig oc = a.out_cfg;
  if (a.layer_given) oc.layer = a.wm.layer;
  if (!a.quiet)
    std::fprintf(stderr,
                 "signet: deepsigns-output on %s (%s): K = %lld keys from %lld candidates (%s search), fine-tuning "
                 "at lr %g for at most %lld epochs\n",
                 a.from.c_str(), model.name.c_str(), static_cast<long long>(oc.keys),
                 static_cast<long long>(oc.candidates > 0 ? oc.candidates : 20 * oc.keys), oc.key_search.c_str(),
                 cfg.lr, static_cast<long long>(cfg.epochs));
  OutputEmbedded e = embed_output_recipe(std::move(model), norm, train, test, oc, cfg);
  const std::string keys_sha = save_output_embedding(a.out, a.keys_out, a.from, e, a.cfg.seed, a.dataset);
  const OutputKeys& keys = e.keys;
  const OutputEmbedReport& rep = e.report;
  const EvalResult &before = e.before, &after = e.after;
  const OutputEvidence& ev = e.self;
  oc.seed = a.cfg.seed;
  if (a.json) {
    nlohmann::json j = {{"command", "embed"}, {"scheme", a.scheme}, {"model", e.model.name}, {"dataset", a.dataset},
                        {"from", a.from}, {"seed", a.cfg.seed}, {"lr", cfg.lr}, {"epoch_limit", cfg.epochs},
                        {"key_search", oc.key_search}, {"layer", rep.layer}, {"keys_k", keys.size()},
                        {"candidates", rep.candidates}, {"drawn", rep.drawn}, {"rounds", rep.rounds},
                        {"pca_components", rep.pca_components}, {"pca_explained", rep.explained},
                        {"eps", rep.eps}, {"density_threshold", rep.density_threshold},
                        {"search_seconds", rep.search_seconds}, {"finetune_seconds", rep.finetune_seconds},
                        {"finetune_epochs", rep.finetune_epochs}, {"mixture_size", rep.mixture_size},
                        {"key_repeat", rep.key_repeat}, {"epoch_key_accuracy", rep.epoch_key_accuracy},
                        {"candidate_key_accuracy", rep.candidate_key_accuracy},
                        {"right_on_marked", rep.right_on_marked}, {"wrong_on_unmarked", rep.wrong_on_unmarked},
                        {"survivors", rep.survivors},
                        {"key_yield", static_cast<double>(rep.survivors) / static_cast<double>(rep.candidates)},
                        {"unmarked_test_accuracy", before.accuracy}, {"test_accuracy", after.accuracy},
                        {"mismatches", ev.mismatches}, {"theta", ev.theta}, {"confidence", ev.confidence},
                        {"p_value", ev.p_value}, {"detected", ev.detected}, {"keys", a.keys_out},
                        {"keys_sha256", keys_sha}, {"out", a.out}};
    print_json(j);
  } else {
    std::printf("key search (%s, layer %s): %lld candidates", oc.key_search.c_str(), rep.layer.c_str(),
                static_cast<long long>(rep.candidates));
    if (rep.pca_components > 0)
      std::printf(" (%lld drawn; PCA %lld components, %.1f%% of the variance; eps %.4g, accept < %lld neighbours)",
                  static_cast<long long>(rep.drawn), static_cast<long long>(rep.pca_components), 100 * rep.explained,
                  rep.eps, static_cast<long long>(rep.density_threshold));
    std::printf(" in %.2fs\n", rep.search_seconds);
    std::printf("fine-tuning: %lld epochs on %lld images (keys x%lld), %.1f%% of the candidates right; %lld of %lld "
                "survive key generation 2\n",
                static_cast<long long>(rep.finetune_epochs), static_cast<long long>(rep.mixture_size),
                static_cast<long long>(rep.key_repeat), 100 * rep.candidate_key_accuracy,
                static_cast<long long>(rep.survivors), static_cast<long long>(rep.candidates));
    std::printf("test accuracy %.2f%% -> %.2f%%; marked model: %lld/%lld mismatches (theta %lld), p-value %.3g, %s; "
                "written to %s\n",
                100 * before.accuracy, 100 * after.accuracy, static_cast<long long>(ev.mismatches),
                static_cast<long long>(ev.keys), static_cast<long long>(ev.theta), ev.p_value,
                ev.detected ? "detected" : "NOT detected", a.out.c_str());
    std::printf("secret keys: %s (mode 0600, sha256 %s)\n", a.keys_out.c_str(), keys_sha.c_str());
  }
}

void run_embed(EmbedArgs a) {
  set_threads(a.threads);
  SIGNET_CHECK(a.scheme == "deepsigns-hidden" || a.scheme == "deepsigns-output",
               "unknown --scheme '{}' (available: deepsigns-hidden, deepsigns-output)", a.scheme);
  SIGNET_CHECK(!a.out.empty() && !a.keys_out.empty(), "--out (marked model) and --keys-out (secret keys) are required");
  SIGNET_CHECK(a.out != a.keys_out, "--out and --keys-out must be different files");
  if (a.scheme == "deepsigns-output") return run_embed_output(a);
  if (a.from.empty()) require_model_name(a.model);
  const Dataset train = load_split(a.dataset, "train", a.data_dir);
  const Dataset test = load_split(a.dataset, "test", a.data_dir);
  Normalization norm;
  Model model = a.from.empty() ? scratch_model_for_embedding(a.model, train, a.cfg.seed)
                               : load_model(a.from, a.model, &norm);
  const EmbedSchedule sched = embed_schedule(a.model, a.from.empty(), a.lr);
  a.cfg.lr = sched.lr;
  a.cfg.warmup_steps = sched.warmup_steps;
  a.cfg.progress = !a.quiet;
  // Several layers at once: --layer relu1,relu2 --keys-out k1.wmk,k2.wmk (one keys file each).
  const std::vector<std::string> layers = split_list(a.wm.layer), keys_outs = split_list(a.keys_out);
  SIGNET_CHECK(!layers.empty() && layers.size() == keys_outs.size(),
               "give one --keys-out per --layer (comma-separated lists): {} layer(s), {} keys file(s)", layers.size(),
               keys_outs.size());
  const std::string model_name = model.name;
  auto log_keys = [&](const HiddenKeys& k) {
    if (a.quiet) return;
    std::fprintf(stderr, "signet: embedding %lld bits in layer %s of %s (classes %s, %lld trigger inputs)%s\n",
                 static_cast<long long>(k.b.numel()), k.layer.c_str(), model_name.c_str(),
                 fmt::format("{}", fmt::join(k.classes, ",")).c_str(), static_cast<long long>(k.key_inputs.size(0)),
                 a.from.empty() ? ", training from scratch" : (", fine-tuning " + a.from).c_str());
  };
  HiddenEmbedded e = embed_hidden_recipe(std::move(model), norm, train, test, a.wm, layers, a.cfg, log_keys);
  const TrainResult& tr = e.train;
  const EvalResult& ev = e.test;
  std::vector<std::string> keys_shas;
  const std::string model_sha = save_hidden_embedding(a.out, keys_outs, e, a.cfg.seed, a.dataset, &keys_shas);
  std::vector<HiddenKeys>& keys = e.keys;
  nlohmann::json per_layer = nlohmann::json::array();
  for (size_t i = 0; i < keys.size(); ++i) {
    const HiddenEvidence wm = extract_hidden(e.model, keys[i]);
    per_layer.push_back({{"layer", keys[i].layer}, {"bits", keys[i].b.numel()}, {"classes", keys[i].classes},
                         {"ber", wm.ber}, {"matches", wm.matches}, {"p_value", wm.p_value}, {"keys", keys_outs[i]},
                         {"keys_sha256", keys_shas[i]}});
  }
  if (a.json) {
    nlohmann::json out = {{"command", "embed"}, {"scheme", a.scheme}, {"model", e.model.name}, {"dataset", a.dataset},
                          {"epochs", a.cfg.epochs}, {"seed", a.cfg.seed}, {"lr", a.cfg.lr}, {"from", a.from},
                          {"train_seconds", tr.train_seconds}, {"test_accuracy", ev.accuracy}, {"out", a.out},
                          {"out_sha256", model_sha}};
    if (per_layer.size() == 1) {
      out.update(per_layer[0]);
    } else {
      out["layers"] = per_layer;
    }
    print_json(out);
  } else {
    std::printf("marked model: test accuracy %.2f%%, written to %s\n", 100 * ev.accuracy, a.out.c_str());
    for (const auto& l : per_layer)
      std::printf("  layer %s: BER %.4f (%lld/%lld bits), secret keys %s (mode 0600, sha256 %s)\n",
                  l["layer"].get<std::string>().c_str(), l["ber"].get<double>(),
                  static_cast<long long>(l["matches"].get<int64_t>()), static_cast<long long>(l["bits"].get<int64_t>()),
                  l["keys"].get<std::string>().c_str(), l["keys_sha256"].get<std::string>().c_str());
  }
}
}  // namespace

void register_embed(CLI::App& app) {
  auto a = std::make_shared<EmbedArgs>();
  auto* c = app.add_subcommand("embed", "Train or fine-tune a model with an owner's watermark");
  c->add_option("--scheme", a->scheme, "watermark scheme")->capture_default_str();
  auto* model_opt = c->add_option("--model", a->model, "model name (checked against --from's file when given)")
                       ->capture_default_str();
  c->add_option("--dataset", a->dataset, "data set")->capture_default_str();
  c->add_option("--data-dir", a->data_dir, "directory of the data set files");
  c->add_option("--from", a->from, "fine-tune this trained model instead of training from scratch");
  auto* layer_opt = c->add_option("--layer", a->wm.layer,
                                  "layer (tap name) that carries the mark; deepsigns-hidden: a comma-separated list "
                                  "marks several layers (deepsigns-output: the density tap, default the second-to-last "
                                  "layer)")
                       ->capture_default_str();
  c->add_option("--bits", a->wm.bits, "signature bits per chosen class (N)")->capture_default_str();
  c->add_option("--wm-classes", a->wm.classes, "number of Gaussian classes carrying bits (s)")->capture_default_str();
  c->add_option("--key-fraction", a->wm.key_fraction, "share of the chosen classes' training data used as trigger keys")
      ->capture_default_str();
  c->add_option("--lambda1", a->wm.lambda1, "weight of loss1 (centre isolation)")->capture_default_str();
  c->add_option("--lambda2", a->wm.lambda2, "weight of loss2 (signature)")->capture_default_str();
  c->add_option("--signature", a->wm.owner, "owner string; the signature is its SHA-256 bits (default: random bits)");
  auto* epochs_opt =
      c->add_option("--epochs", a->cfg.epochs, "epochs (deepsigns-output: fine-tuning epoch limit, default 30)")
          ->capture_default_str();
  c->add_option("--batch-size", a->cfg.batch_size, "batch size")->capture_default_str();
  c->add_option("--lr", a->lr, "learning rate (default 0.05 from scratch, 0.005 with --from)");
  // deepsigns-output (paper Section 3.2)
  c->add_option("--keys", a->out_cfg.keys, "deepsigns-output: key length K")->capture_default_str();
  c->add_option("--candidates", a->out_cfg.candidates, "deepsigns-output: candidate keys K' (default 20 K)");
  c->add_option("--key-search", a->out_cfg.key_search,
                "deepsigns-output: density (PCA + eps-ball, the paper) | random (the released code)")
      ->capture_default_str();
  c->add_option("--explained-variance", a->out_cfg.density.explained_variance,
                "deepsigns-output: share of the activation variance the PCA keeps")
      ->capture_default_str();
  c->add_option("--confidence", a->out_cfg.confidence, "deepsigns-output: decision threshold p of Eq. (5)")
      ->capture_default_str();
  c->add_option("--finetune-subset", a->out_cfg.finetune_subset,
                "deepsigns-output: training images mixed with the keys (0: all)")
      ->capture_default_str();
  c->add_option("--key-repeat", a->out_cfg.key_repeat,
                "deepsigns-output: copies of each candidate key per epoch (0: keys are 1/6 of the mixture)")
      ->capture_default_str();
  c->add_option("--optimizer", a->cfg.optimizer, "sgd | adam | adamw")->capture_default_str();
  c->add_option("--schedule", a->cfg.schedule, "constant | step | cosine")->capture_default_str();
  c->add_option("--seed", a->cfg.seed, "seed of every random choice")->capture_default_str();
  c->add_option("--keys-out", a->keys_out,
                 "where to write the secret keys (deepsigns-hidden: one per --layer, comma-separated)");
  c->add_option("--out", a->out, "where to write the marked model");
  c->add_option("--threads", a->threads, "threads (0: all cores)");
  c->add_flag("--json", a->json, "print one JSON object on stdout");
  c->add_flag("--quiet", a->quiet, "no progress bar");
  c->callback([a, epochs_opt, layer_opt, model_opt] {
    a->model_given = model_opt->count() > 0;
    a->epochs_given = epochs_opt->count() > 0;
    a->layer_given = layer_opt->count() > 0;
    run_embed(*a);
  });
}

}  // namespace signet::cli
