// signet embed: trains (or fine-tunes) a model with an owner's watermark and writes the marked
// model and the secret keys. Scheme: deepsigns-hidden (paper Section 3.1).
#include <memory>

#include "cli/commands.h"
#include "cli/common.h"
#include "engine/serialize/atomic_file.h"
#include "watermark/deepsigns/hidden.h"

namespace signet::cli {

namespace {
struct EmbedArgs {
  std::string scheme = "deepsigns-hidden", model = "mnist-mlp", dataset = "fashion-mnist", data_dir, from, keys_out, out;
  HiddenConfig wm;
  TrainConfig cfg;
  float lr = -1;
  int threads = 0;
  bool json = false, quiet = false;
};

void run_embed(EmbedArgs a) {
  set_threads(a.threads);
  SIGNET_CHECK(a.scheme == "deepsigns-hidden", "unknown --scheme '{}' (available: deepsigns-hidden)", a.scheme);
  SIGNET_CHECK(!a.out.empty() && !a.keys_out.empty(), "--out (marked model) and --keys-out (secret keys) are required");
  SIGNET_CHECK(a.out != a.keys_out, "--out and --keys-out must be different files");
  if (a.from.empty()) require_model_name(a.model);
  const Dataset train = load_split(a.dataset, "train", a.data_dir);
  const Dataset test = load_split(a.dataset, "test", a.data_dir);
  Normalization norm;
  Model model = [&] {
    if (!a.from.empty()) return load_model(a.from, a.model, &norm);
    ModelConfig mc;
    mc.num_classes = train.num_classes;
    mc.input_shape = Shape(train.images.shape().begin() + 1, train.images.shape().end());
    Rng init(a.cfg.seed);
    return build_model(a.model, mc, init);
  }();
  if (norm.mean.empty()) norm = normalization_of(train);
  // Fine-tuning a trained model defaults to a tenth of the training learning rate.
  a.cfg.lr = a.lr > 0 ? a.lr : (a.from.empty() ? 0.05f : 0.005f);
  a.cfg.progress = !a.quiet;
  a.wm.seed = a.cfg.seed;
  // Keys draw from their own stream so the training data order is the unmarked run's.
  Rng key_rng(a.cfg.seed ^ 0x6B657973ULL);
  HiddenKeys keys = key_generation(model, train, norm, a.wm, key_rng);
  if (!a.quiet)
    std::fprintf(stderr, "signet: embedding %lld bits in layer %s of %s (classes %s, %lld trigger inputs)%s\n",
                 static_cast<long long>(keys.b.numel()), keys.layer.c_str(), model.name.c_str(),
                 fmt::format("{}", fmt::join(keys.classes, ",")).c_str(), static_cast<long long>(keys.key_inputs.size(0)),
                 a.from.empty() ? ", training from scratch" : (", fine-tuning " + a.from).c_str());
  const TrainResult tr = embed_hidden(model, train, norm, keys, a.cfg);
  const EvalResult ev = evaluate_model(model, test, norm);
  const HiddenEvidence wm = extract_hidden(model, keys);
  save_model(a.out, model, norm, {{"signet.seed", std::to_string(a.cfg.seed)}, {"signet.dataset", a.dataset}});
  keys.extra["signet.marked_model_sha256"] = sha256_hex(read_file(a.out));
  const std::string keys_sha = save_hidden_keys(a.keys_out, keys);
  if (a.json) {
    print_json({{"command", "embed"}, {"scheme", a.scheme}, {"model", model.name}, {"dataset", a.dataset},
                {"layer", keys.layer}, {"bits", keys.b.numel()}, {"classes", keys.classes}, {"epochs", a.cfg.epochs},
                {"seed", a.cfg.seed}, {"lr", a.cfg.lr}, {"from", a.from}, {"train_seconds", tr.train_seconds},
                {"test_accuracy", ev.accuracy}, {"ber", wm.ber}, {"p_value", wm.p_value}, {"keys", a.keys_out},
                {"keys_sha256", keys_sha}, {"out", a.out}});
  } else {
    std::printf("marked model: test accuracy %.2f%%, BER %.4f (%lld/%lld bits), written to %s\n", 100 * ev.accuracy,
                wm.ber, static_cast<long long>(wm.matches), static_cast<long long>(wm.total), a.out.c_str());
    std::printf("secret keys: %s (mode 0600, sha256 %s)\n", a.keys_out.c_str(), keys_sha.c_str());
  }
}
}  // namespace

void register_embed(CLI::App& app) {
  auto a = std::make_shared<EmbedArgs>();
  auto* c = app.add_subcommand("embed", "Train or fine-tune a model with an owner's watermark");
  c->add_option("--scheme", a->scheme, "watermark scheme")->capture_default_str();
  c->add_option("--model", a->model, "model name")->capture_default_str();
  c->add_option("--dataset", a->dataset, "data set")->capture_default_str();
  c->add_option("--data-dir", a->data_dir, "directory of the data set files");
  c->add_option("--from", a->from, "fine-tune this trained model instead of training from scratch");
  c->add_option("--layer", a->wm.layer, "layer (tap name) that carries the mark")->capture_default_str();
  c->add_option("--bits", a->wm.bits, "signature bits per chosen class (N)")->capture_default_str();
  c->add_option("--wm-classes", a->wm.classes, "number of Gaussian classes carrying bits (s)")->capture_default_str();
  c->add_option("--key-fraction", a->wm.key_fraction, "share of the chosen classes' training data used as trigger keys")
      ->capture_default_str();
  c->add_option("--lambda1", a->wm.lambda1, "weight of loss1 (centre isolation)")->capture_default_str();
  c->add_option("--lambda2", a->wm.lambda2, "weight of loss2 (signature)")->capture_default_str();
  c->add_option("--signature", a->wm.owner, "owner string; the signature is its SHA-256 bits (default: random bits)");
  c->add_option("--epochs", a->cfg.epochs, "epochs")->capture_default_str();
  c->add_option("--batch-size", a->cfg.batch_size, "batch size")->capture_default_str();
  c->add_option("--lr", a->lr, "learning rate (default 0.05 from scratch, 0.005 with --from)");
  c->add_option("--optimizer", a->cfg.optimizer, "sgd | adam | adamw")->capture_default_str();
  c->add_option("--schedule", a->cfg.schedule, "constant | step | cosine")->capture_default_str();
  c->add_option("--seed", a->cfg.seed, "seed of every random choice")->capture_default_str();
  c->add_option("--keys-out", a->keys_out, "where to write the secret keys");
  c->add_option("--out", a->out, "where to write the marked model");
  c->add_option("--threads", a->threads, "threads (0: all cores)");
  c->add_flag("--json", a->json, "print one JSON object on stdout");
  c->add_flag("--quiet", a->quiet, "no progress bar");
  c->callback([a] { run_embed(*a); });
}

}  // namespace signet::cli
