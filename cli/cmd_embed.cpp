// signet embed: trains (or fine-tunes) a model with an owner's watermark and writes the marked
// model and the secret keys. Any registered scheme (`signet schemes`): each scheme option is a
// flag (--name, '_' written '-'), accepted only for the scheme that declares it.
//
// Keys come from the OS CSPRNG. --key-seed N makes them reproducible for experiments, and
// regenerable by anyone who knows N: a warning says so and the keys file records it.
#include <memory>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/distributed.h"
#include "engine/dist/communicator.h"
#include "models/data_parallel.h"
#include "watermark/verify/key_rng.h"
#include "cli/scheme_flags.h"
#include "eval/embed_recipes.h"
#include "models/recipes.h"

namespace signet::cli {

namespace {
struct EmbedArgs {
  std::string scheme = all_schemes().front()->info().name, model = "mnist-mlp", dataset = "fashion-mnist", data_dir, from, keys_out, out;
  SchemeFlags flags;
  ModelFileFlags file;
  TrainRecipe shape;  // the data shaping flags only
  TrainConfig cfg;
  float lr = -1;
  uint64_t key_seed = 0;
  int threads = 0;
  bool json = false, quiet = false;
  bool epochs_given = false, model_given = false, key_seed_given = false;
  DistributedFlags dist;
};

// The options the mark was made with, for the JSON record; an owner's personal value (a
// signature string) is left out: it fixes the signature bits, part of the secret.
nlohmann::json public_options(const Scheme& scheme, const SchemeParams& params) {
  nlohmann::json o = nlohmann::json::object();
  for (const SchemeOption& opt : scheme.options()) {
    if (opt.personal) continue;
    else if (opt.type == SchemeOption::Type::Integer) o[opt.name] = params.integer(opt.name);
    else if (opt.type == SchemeOption::Type::Real) o[opt.name] = params.real(opt.name);
    else o[opt.name] = params.text(opt.name);
  }
  return o;
}

void run_embed(EmbedArgs a) {
  const bool parallel = start_distributed(a.dist, a.threads);
  const bool writer = dist::is_writer();
  const Scheme& scheme = scheme_from_flag(a.scheme);
  const SchemeInfo& info = scheme.info();
  SchemeParams params = a.flags.params_for(scheme);
  scheme.check(params);
  check_epochs(a.cfg.epochs);
  SIGNET_CHECK(!a.out.empty() && !a.keys_out.empty(), "--out (marked model) and --keys-out (secret keys) are required");
  const std::vector<std::string> keys_outs = split_list(a.keys_out);
  const int64_t sets = scheme.key_sets(params);
  SIGNET_CHECK(static_cast<int64_t>(keys_outs.size()) == sets,
               "give one --keys-out per key set (comma-separated): {} makes {} here, {} given", info.name, sets,
               keys_outs.size());
  std::vector<PathFlag> outputs{{"--out", a.out}};
  for (const std::string& k : keys_outs) outputs.push_back({"--keys-out", k});
  check_output_paths({{"--from", a.from}}, outputs);
  if (a.from.empty()) {
    SIGNET_CHECK(info.from_scratch,
                 "{} marks a trained model by fine-tuning it: pass --from trained.safetensors (make one with "
                 "`signet train`)",
                 info.name);
    require_model_name(a.model);
  }
  KeyRandomness keys;
  if (a.key_seed_given) {
    keys.key_seed = a.key_seed;
    std::fprintf(stderr,
                 "signet: warning: --key-seed %llu makes keys that anyone who knows the seed can regenerate; use it "
                 "for reproducible experiments only (the keys file records it)\n",
                 static_cast<unsigned long long>(a.key_seed));
  } else if (parallel) {
    // Every rank must make the same keys: rank 0's CSPRNG draws the job's secret for all of them.
    std::array<unsigned char, 32> secret{};
    if (writer) os_random_bytes(secret.data(), secret.size());
    dist::world().broadcast(secret.data(), static_cast<int64_t>(secret.size()), 0);
    keys.job_secret = secret;
  }
  if (parallel) check_same_file_on_all_ranks(dist::world(), a.from, "--from");
  a.shape.dataset = a.dataset;
  a.shape.data_dir = a.data_dir;
  a.shape.cfg.seed = a.cfg.seed;
  const RecipeData data = load_recipe_data(a.shape);
  const Dataset& train = data.train;
  const Dataset& test = data.test;
  Normalization norm;
  bool plain = false;
  Model model = a.from.empty() ? scratch_model_for_embedding(a.model, train, a.cfg.seed)
                               : load_model(a.from,
                                            model_hints(a.model_given ? a.model : "", a.file, example_shape(train),
                                                        "the data set '" + a.dataset + "'"),
                                            &norm, &plain);
  // A PyTorch state dict records no normalisation: its inputs are the data set's raw pixels unless
  // --input-mean / --input-std say otherwise; the marked model records what was used.
  if (plain && norm.mean.empty() && !train.is_tokens()) norm = identity_normalization(model.config.input_shape[0]);
  const EmbedSchedule sched = embed_schedule(model.name, a.from.empty(), a.lr);
  TrainConfig cfg = a.cfg;
  cfg.lr = static_cast<float>(sched.lr);
  cfg.warmup_steps = sched.warmup_steps;
  if (!a.epochs_given && !info.from_scratch) cfg.epochs = info.finetune_epochs;
  cfg.progress = !a.quiet;
  cfg.sync_bn = a.dist.sync_bn;
  scheme.model_defaults(params, model.name);
  EmbedJob job{std::move(model), norm, !a.from.empty(), &train, &test, cfg, params, keys, nullptr};
  if (!a.quiet && writer) job.log = [](const std::string& line) { std::fprintf(stderr, "signet: %s\n", line.c_str()); };
  Embedded e = scheme.embed(std::move(job));
  if (!writer) return;  // rank 0 writes the marked model and the keys, and reports
  std::string model_sha;
  const std::vector<std::string> keys_shas = save_embedding(a.out, keys_outs, e, a.cfg.seed, a.dataset, a.from,
                                                            &model_sha);
  nlohmann::json sets_json = nlohmann::json::array();
  for (size_t i = 0; i < e.keys.size(); ++i) {
    nlohmann::json k = e.keys[i]->describe();
    k["keys"] = keys_outs[i];
    k["keys_sha256"] = keys_shas[i];
    sets_json.push_back(k);
  }
  if (a.json) {
    nlohmann::json out = {{"command", "embed"}, {"scheme", info.name}, {"model", e.model.name},
                          {"dataset", a.dataset}, {"from", a.from}, {"epochs", cfg.epochs}, {"seed", a.cfg.seed},
                          {"lr", cfg.lr}, {"key_source", a.key_seed_given ? "key-seed" : "os-csprng"},
                          {"embed_seconds", e.embed_seconds}, {"test_accuracy", e.accuracy}, {"out", a.out},
                          {"out_sha256", model_sha}, {"options", public_options(scheme, params)},
                          {"pad_to", a.shape.pad_to}, {"channels", a.shape.channels},
                          {"train_limit", a.shape.train_limit}, {"test_limit", a.shape.test_limit},
                          {"train_size", train.size()}, {"test_size", test.size()},
                          {"ranks", dist::world().size()}};
    if (e.accuracy_before >= 0) out["unmarked_test_accuracy"] = e.accuracy_before;
    out.update(e.report);
    if (sets_json.size() == 1) {
      out["keys"] = keys_outs[0];
      out["keys_sha256"] = keys_shas[0];
    } else {
      out["key_sets"] = sets_json;
    }
    print_json(out);
    return;
  }
  for (const std::string& line : e.lines) std::printf("%s\n", line.c_str());
  if (e.accuracy_before >= 0)
    std::printf("test accuracy %.2f%% -> %.2f%%", 100 * e.accuracy_before, 100 * e.accuracy);
  else
    std::printf("marked model: test accuracy %.2f%%", 100 * e.accuracy);
  std::printf(", written to %s (sha256 %s)\n", a.out.c_str(), model_sha.c_str());
  for (size_t i = 0; i < e.keys.size(); ++i)
    std::printf("secret keys: %s (%s; mode 0600, sha256 %s)\n", keys_outs[i].c_str(), e.keys[i]->summary().c_str(),
                keys_shas[i].c_str());
}
}  // namespace

void register_embed(CLI::App& app) {
  auto a = std::make_shared<EmbedArgs>();
  auto* c = app.add_subcommand("embed", "Train or fine-tune a model with an owner's watermark");
  c->add_option("--scheme", a->scheme, "watermark scheme: " + scheme_names() + " (see `signet schemes`)")
      ->capture_default_str();
  auto* model_opt = c->add_option("--model", a->model, "model name (checked against --from's file when given)")
                        ->capture_default_str();
  c->add_option("--dataset", a->dataset, "data set")->capture_default_str();
  c->add_option("--data-dir", a->data_dir, "directory of the data set files");
  add_data_shape_flags(c, a->shape);
  c->add_option("--from", a->from, "fine-tune this trained model instead of training from scratch");
  add_model_file_flags(c, a->file);
  auto* epochs_opt =
      c->add_option("--epochs", a->cfg.epochs,
                    "epochs (schemes that fine-tune a trained model: the epoch limit, default the scheme's)")
          ->capture_default_str();
  c->add_option("--batch-size", a->cfg.batch_size, "batch size")->capture_default_str();
  c->add_option("--lr", a->lr, "learning rate (default 0.05 from scratch, 0.005 with --from)");
  c->add_option("--optimizer", a->cfg.optimizer, "sgd | adam | adamw")->capture_default_str();
  c->add_option("--schedule", a->cfg.schedule, "constant | step | cosine")->capture_default_str();
  c->add_option("--seed", a->cfg.seed, "seed of the training (initialisation, data order); not of the keys")
      ->capture_default_str();
  auto* key_seed_opt = c->add_option(
      "--key-seed", a->key_seed,
      "experiments only: derive the keys from this seed instead of the OS CSPRNG (anyone who knows it can "
      "regenerate them)");
  a->flags.add_to(c);
  c->add_option("--keys-out", a->keys_out,
                "where to write the secret keys (one file per key set, comma-separated: e.g. one per --layer)");
  c->add_option("--out", a->out, "where to write the marked model");
  c->add_option("--threads", a->threads, "threads (0: all cores; with --distributed, per rank: the cores / ranks here)");
  add_distributed_flags(c, a->dist);
  c->add_flag("--json", a->json, "print one JSON object on stdout");
  c->add_flag("--quiet", a->quiet, "no progress bar");
  c->callback([a, epochs_opt, model_opt, key_seed_opt] {
    a->model_given = model_opt->count() > 0;
    a->epochs_given = epochs_opt->count() > 0;
    a->key_seed_given = key_seed_opt->count() > 0;
    run_embed(*a);
  });
}

}  // namespace signet::cli
