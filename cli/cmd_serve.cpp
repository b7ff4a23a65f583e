// signet serve: a model file behind an HTTP API (serve/model_server.h), as an owner deploys it,
// optionally with what the robustness papers' attacked services do to queries and answers.
// SIGTERM or SIGINT stops it gracefully: requests already received are answered first.
#include <csignal>
#include <pthread.h>

#include <atomic>
#include <memory>
#include <thread>

#include "cli/commands.h"
#include "cli/common.h"
#include "engine/serialize/atomic_file.h"
#include "engine/serialize/file_read.h"
#include "serve/client_gate.h"
#include "serve/model_server.h"
#include "watermark/attacks/oracle_attacks.h"

namespace signet::cli {

void register_serve(CLI::App& app) {
  struct Args {
    std::string weights, model, bind = "127.0.0.1", port_file, answer = "labels", api_key_file;
    ModelFileFlags file;
    int port = -1, threads = 0;
    ServiceAttack attack;
    serve::ServeOptions opt;
    double batch_wait_ms = 2;
    bool quiet = false;
  };
  auto a = std::make_shared<Args>();
  auto* c = app.add_subcommand("serve", "Serve a model over HTTP (POST /v1/predict, GET /v1/model, GET /healthz)");
  c->add_option("--weights", a->weights, "the model file (.safetensors) to serve")->required();
  c->add_option("--model", a->model, "model name (checked against the file; for a PyTorch state dict, its architecture)");
  add_model_file_flags(c, a->file);
  c->add_option("--port", a->port, "TCP port (0: a free one, see --port-file)")->required();
  c->add_option("--bind", a->bind, "address to listen on")->capture_default_str();
  c->add_option("--port-file", a->port_file, "write the port listened on to this file once serving");
  c->add_option("--answer", a->answer, "what predictions answer: labels, or labels and class scores")
      ->capture_default_str();
  c->add_option("--query-noise", a->attack.query_noise, "Gaussian noise of this std added to every query pixel");
  c->add_option("--perturb-scores", a->attack.perturb_scores,
                "Gaussian noise of this std added to the class scores, then clamped and renormalised");
  c->add_option("--round-scores", a->attack.round_scores, "class scores rounded to this many decimals (0 to 8)");
  c->add_option("--oracle-seed", a->attack.seed, "seed of the service's noise")->capture_default_str();
  c->add_option("--query-budget", a->opt.query_budget, "inputs one client may ask in all (0: unlimited)")
      ->capture_default_str();
  c->add_option("--rate-limit", a->opt.rate_limit, "inputs per second per client (0: unlimited)")
      ->capture_default_str();
  c->add_option("--api-key-file", a->api_key_file, "require \"Authorization: Bearer <the key in this file>\"");
  c->add_option("--max-batch", a->opt.max_batch, "inputs in one request at most")->capture_default_str();
  c->add_option("--batch-size", a->opt.batch_size, "inputs in one model call, gathered across clients")
      ->capture_default_str();
  c->add_option("--batch-wait-ms", a->batch_wait_ms, "how long a model call waits for more clients to join it")
      ->capture_default_str();
  c->add_option("--max-body-bytes", a->opt.max_body_bytes, "request body limit")->capture_default_str();
  c->add_option("--read-timeout", a->opt.read_timeout_s, "seconds a slow client may send nothing")
      ->capture_default_str();
  c->add_option("--keep-alive", a->opt.keep_alive_s, "seconds an idle connection stays open")->capture_default_str();
  c->add_option("--connections", a->opt.http_threads, "connections served at once")->capture_default_str();
  c->add_option("--threads", a->threads, "model threads (0: all cores)");
  c->add_flag("--quiet", a->quiet, "no access log on stderr");
  c->callback([a] {
    set_threads(a->threads);
    // A value outside its choices is Signet's error (exit 1), as for every other command's choices.
    SIGNET_CHECK(a->answer == "labels" || a->answer == "scores", "--answer must be labels or scores, got '{}'",
                 a->answer);
    SIGNET_CHECK(a->port >= 0 && a->port <= 65535, "--port must be 0 to 65535, got {}", a->port);
    SIGNET_CHECK(a->batch_wait_ms >= 0 && a->batch_wait_ms <= 1000, "--batch-wait-ms must be 0 to 1000, got {}",
                 a->batch_wait_ms);
    check_service_attack(a->attack);
    serve::ServeOptions opt = a->opt;
    opt.bind = a->bind;
    opt.port = a->port;
    opt.answer_scores = a->answer == "scores";
    opt.batch_wait_us = static_cast<int64_t>(a->batch_wait_ms * 1000);
    opt.access_log = !a->quiet;
    if (!a->api_key_file.empty()) opt.api_key = serve::read_api_key_file(a->api_key_file);

    Normalization norm;
    Model model = load_model(a->weights, model_hints(a->model, a->file), &norm);
    auto local = std::make_shared<LocalModelOracle>(std::move(model), norm, a->weights);
    const Model& m = local->model();
    SIGNET_CHECK(!m.takes_tokens(), "signet serve answers models of float32 inputs; {} takes token ids", m.name);
    const std::string weights_sha = sha256_hex(read_file(a->weights));
    serve::ServedModel served{attacked_service(local, a->attack), m.name, m.config.input_shape,
                              m.config.num_classes, weights_sha};

    // Signals go to one watcher thread (blocked everywhere else, so set before any thread starts).
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    serve::ModelServer server(std::move(served), opt);
    const int port = server.bind();
    std::fprintf(stderr, "signet serve: %s (%s, sha256 %s) on http://%s:%d\n", a->weights.c_str(), m.name.c_str(),
                 weights_sha.c_str(), a->bind.c_str(), port);
    if (!a->port_file.empty()) write_file_atomic(a->port_file, std::to_string(port) + "\n");
    std::atomic<bool> finished{false}, signalled{false};
    std::thread watcher([&] {
      int sig = 0;
      sigwait(&stop_signals, &sig);
      signalled = true;
      if (finished) return;
      std::fprintf(stderr, "signet serve: signal %d: finishing the requests in flight, then stopping\n", sig);
      server.stop();
    });
    auto end_watcher = [&] {
      finished = true;
      if (!signalled) pthread_kill(watcher.native_handle(), SIGTERM);  // wakes the watcher: no signal came
      watcher.join();
    };
    try {
      server.run();
    } catch (...) {
      end_watcher();
      throw;
    }
    end_watcher();
    std::fprintf(stderr, "signet serve: stopped after %lld model calls\n",
                 static_cast<long long>(server.model_calls()));
  });
}

}  // namespace signet::cli
