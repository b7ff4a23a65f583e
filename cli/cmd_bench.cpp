// signet bench: times N training steps (forward, the model's loss, backward, SGD momentum step)
// on synthetic data and prints the median, min and max step time, so a step can be compared
// with another framework's from outside (bench/e2e runs PyTorch beside it).
//
// The input shape and classes default to the model's paper configuration
// (default_model_config: e.g. resnet50 3x224x224 and 1000 classes, imdb-lstm int64 tokens
// [B, 500] with a 5002-id vocabulary); --input-shape and --classes override them. Image
// inputs are N(0, 1) pixels, token inputs uniform ids in [0, vocab), labels uniform classes.
//
// --profile: the timed steps also run the profiler (engine/profiler.h) and a table of time per
// op type and per layer, forward and backward, follows the summary (stderr with --json). The
// profiler's clock reads add a little to each op, so the step times of a profiled run are for
// reading the table, not for comparing with unprofiled runs.
//
// --scheme S: each step also adds the scheme's per-step embedding term (Scheme::training_term; for
// the DeepSigns hidden-layer mark, WM_activity_regularizer on the second-to-last layer as
// `signet embed` trains it). With --profile, its row's "% step" is the term's share of a step.
//
// --forward-only: times inference instead, what a serving endpoint answers with: the model in eval
// mode (dropout off, batch norm on its running statistics), forward passes under NoGradGuard, no
// loss, backward or optimizer step. The JSON says "forward_only": true.
//
// Under `mpirun -np P` (or --distributed): --batch-size is the global batch; each rank runs its
// 1/P share, the gradients are averaged (models/data_parallel.h), and rank 0 reports the step
// time, the samples per second of the whole job, and the median time of the exchange left after
// backward (comm_median_ms: the wait for the sums that backward did not hide), with the bytes each
// step exchanges. As in training, each bucket's sum starts during backward as soon as its
// gradients are final; --no-overlap starts them all after backward, to measure what that hides.
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <memory>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/distributed.h"
#include "engine/dist/communicator.h"
#include "models/data_parallel.h"
#include "engine/autograd.h"
#include "engine/cuda/runtime.h"
#include "engine/ops.h"
#include "engine/profiler.h"
#include "engine/thread_governor.h"
#include "models/trainer.h"
#include "cli/scheme_flags.h"

namespace signet::cli {

void register_bench(CLI::App& app) {
  struct Args { std::string model = "mnist-mlp", input_shape; int64_t batch = 128, steps = 50, warmup = 10, classes = 0; int threads = 0; bool json = false, profile = false, forward_only = false, no_overlap = false; std::string scheme, device = "cpu"; DistributedFlags dist; };
  auto a = std::make_shared<Args>();
  auto* c = app.add_subcommand("bench", "Time training steps on synthetic data");
  c->add_option("--model", a->model, "model name")->capture_default_str();
  c->add_option("--batch-size", a->batch, "batch size")->capture_default_str();
  c->add_option("--input-shape", a->input_shape, "C,H,W, or L for token models (default: the model's)");
  c->add_option("--classes", a->classes, "number of classes (0: the model's default)")->capture_default_str();
  c->add_option("--steps", a->steps, "timed steps")->capture_default_str();
  c->add_option("--warmup", a->warmup, "untimed steps first")->capture_default_str();
  c->add_option("--threads", a->threads, "threads (0: all cores; with --distributed, per rank: the cores / ranks here)");
  add_distributed_flags(c, a->dist);
  c->add_flag("--no-overlap", a->no_overlap, "with --distributed: exchange the gradients after backward, not during it");
  add_device_flag(c, a->device);
  c->add_flag("--json", a->json, "print one JSON object on stdout");
  c->add_flag("--profile", a->profile, "print time per op type and per layer over the timed steps");
  c->add_flag("--forward-only", a->forward_only,
              "time inference only: the model in eval mode, forward passes without autograd (no loss, backward "
              "or optimizer step)");
  c->add_option("--scheme", a->scheme,
                "add this scheme's embedding term to each step (schemes with a per-step regularizer: e.g. the "
                "DeepSigns hidden-layer one on the second-to-last layer)");
  c->callback([a] {
    const Device dev = usable_device(a->device, "bench");
    SIGNET_CHECK(dev.is_cpu() || (!a->profile && a->scheme.empty()),
                 "bench --device {}: --profile times ops on the host clock, but a GPU runs them asynchronously, and "
                 "--scheme's terms run on the CPU only for now; drop them or use --device cpu", dev.str());
    SIGNET_CHECK(!a->forward_only || a->scheme.empty(),
                 "bench --forward-only times inference, but --scheme {} adds a term to training steps; drop one of them",
                 a->scheme);
    const bool parallel = start_distributed(a->dist, a->threads);
    dist::Communicator& comm = dist::world();
    SIGNET_CHECK(!parallel || (dev.is_cpu() && !a->forward_only && a->scheme.empty()),
                 "bench --distributed times CPU training steps of the model alone: drop --device, --forward-only and "
                 "--scheme");
    SIGNET_CHECK(a->steps > 0 && a->warmup >= 0 && a->batch > 0, "--steps and --batch-size must be positive, --warmup >= 0");
    SIGNET_CHECK(a->classes >= 0, "--classes must be >= 0 (0: the model's default), got {}", a->classes);
    ModelConfig mc = default_model_config(a->model);
    if (a->classes > 0) mc.num_classes = a->classes;
    if (!a->input_shape.empty()) mc.input_shape = parse_shape_flag(a->input_shape, "--input-shape");
    // One batch of inputs is allocated from these flags: refuse an absurd one before building anything.
    checked_mul(a->batch, checked_numel(mc.input_shape, "--input-shape", kMaxSampleElements),
                fmt::format("--batch-size {} x --input-shape {}", a->batch, shape_str(mc.input_shape)));
    Rng rng(0);
    Model model = build_model(a->model, mc, rng);
    // This rank's share of the global batch (the DataLoader's split).
    const int64_t local_batch = a->batch * (comm.rank() + 1) / comm.size() - a->batch * comm.rank() / comm.size();
    SIGNET_CHECK(local_batch > 0, "--batch-size {} over {} ranks leaves rank {} nothing to do", a->batch, comm.size(),
                 comm.rank());
    Shape xs{local_batch};
    xs.insert(xs.end(), mc.input_shape.begin(), mc.input_shape.end());
    Tensor x;
    if (model.takes_tokens()) {
      const int64_t vocab = mc.vocab_size > 0 ? mc.vocab_size : 5002;
      x = Tensor::empty(xs, DType::I64);
      for (int64_t i = 0; i < x.numel(); ++i) x.i64()[i] = static_cast<int64_t>(rng.below(static_cast<uint64_t>(vocab)));
    } else {
      x = Tensor::empty(xs);
      for (int64_t i = 0; i < x.numel(); ++i) x.f32()[i] = static_cast<float>(rng.normal());
    }
    const int64_t label_classes = model.loss == "bce" ? 2 : mc.num_classes;
    Tensor y = Tensor::empty({local_batch}, DType::I64);
    for (int64_t i = 0; i < local_batch; ++i) y.i64()[i] = static_cast<int64_t>(rng.below(label_classes));
    std::unique_ptr<TrainingTerm> wm;
    if (!a->scheme.empty()) {
      wm = scheme_from_flag(a->scheme).training_term(model, x, label_classes, rng);
      SIGNET_CHECK(wm != nullptr, "--scheme {} adds no per-step term to training (it fine-tunes on its keys)",
                   a->scheme);
    }
    if (dev.is_cuda()) {  // the model and the one batch live on the device; each step ends in a sync
      model.net->to(dev);
      x = x.to(dev);
      y = y.to(dev);
    }
    NamedTensorList params = model.net->named_parameters();
    if (wm)
      for (const auto& p : wm->params()) params.push_back(p);
    auto opt = make_optimizer("sgd", params, 0.01f, 0.9f, 0.0f, false);
    DataParallel dp(comm, params, {});
    dp.broadcast_from_first();
    std::vector<double> comm_ms;
    model.net->train(!a->forward_only);
    // Inference records no graph for the whole run; training steps need it.
    std::unique_ptr<NoGradGuard> no_grad = a->forward_only ? std::make_unique<NoGradGuard>() : nullptr;
    Taps taps;
    if (wm)
      for (const std::string& t : wm->taps()) taps.wanted.insert(t);
    const auto train_step = [&] {
      opt->zero_grad();
      Tensor loss = model_loss(model, model(x, wm ? &taps : nullptr), y);
      if (wm) loss = add(loss, wm->loss(taps, y));
      if (parallel && !a->no_overlap) {
        dp.backward(loss, local_batch, a->batch, 0.0);
      } else {
        loss.backward();
      }
      taps.got.clear();
      if (parallel) {
        const auto c0 = std::chrono::steady_clock::now();
        dp.reduce_gradients(local_batch, a->batch, 0.0);
        comm_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - c0).count());
      }
      profiler::OpScope profile_op("optimizer.step");
      opt->step();
    };
    std::vector<double> ms;
    for (int64_t s = 0; s < a->warmup + a->steps; ++s) {
      threads::adapt();
      if (a->profile && s == a->warmup) profiler::enable();
      profiler::step_begin();
      const auto t0 = std::chrono::steady_clock::now();
      if (a->forward_only)
        model(x);
      else
        train_step();
      if (dev.is_cuda()) cuda::synchronize(dev);
      const double dt = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      profiler::step_end();
      if (s >= a->warmup) ms.push_back(dt);
    }
    if (a->profile) profiler::disable();
    if (!dist::is_writer()) return;  // rank 0 reports
    const auto median_of = [](std::vector<double> v) {
      std::sort(v.begin(), v.end());
      return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
    };
    std::sort(ms.begin(), ms.end());
    const double median = median_of(ms);
    if (parallel) comm_ms.erase(comm_ms.begin(), comm_ms.begin() + static_cast<std::ptrdiff_t>(a->warmup));
    const double comm_median = comm_ms.empty() ? 0.0 : median_of(comm_ms);
    int64_t grad_floats = 0;
    for (const auto& p : params) grad_floats += p.second.numel();
    if (a->json) {
      nlohmann::json j = {{"framework", "signet"}, {"model", a->model}, {"device", dev.str()}, {"batch_size", a->batch}, {"threads", current_threads()},
                  {"adaptive_threads", threads::adaptive()}, {"threads_at_end", threads::current()},
                  {"input_shape", mc.input_shape}, {"classes", mc.num_classes}, {"steps", a->steps}, {"forward_only", a->forward_only},
                  {"blas_core", std::string(openblas_get_corename())}, {"median_ms", median}, {"min_ms", ms.front()}, {"max_ms", ms.back()},
                  {"ranks", comm.size()}, {"samples_per_second", 1000.0 * static_cast<double>(a->batch) / median},
                  {"parameter_bytes", grad_floats * static_cast<int64_t>(sizeof(float))}};
      if (parallel) {
        j["comm_median_ms"] = comm_median;
        j["comm_share"] = comm_median / median;
        j["allreduce_calls_per_step"] = dp.calls() / (a->warmup + a->steps);
        j["local_batch"] = local_batch;
        j["overlap"] = !a->no_overlap;
        j["buckets_started_during_backward"] = dp.started_early();
      }
      print_json(j);
    } else {
      std::printf("%s%s on %s, batch %lld, input %s, %d threads%s: median %.3f ms, min %.3f, max %.3f per step (%lld steps)\n",
                  a->model.c_str(), a->forward_only ? " forward only (eval, no grad)" : "", dev.str().c_str(), static_cast<long long>(a->batch), shape_str(mc.input_shape).c_str(),
                  current_threads(),
                  threads::adaptive() ? fmt::format(" (adaptive, {} at the end)", threads::current()).c_str() : "",
                  median, ms.front(), ms.back(), static_cast<long long>(a->steps));
      if (parallel)
        std::printf("%d ranks (batch %lld each): gradient exchange median %.3f ms per step (%.1f%% of it), %.0f samples/s\n",
                    comm.size(), static_cast<long long>(local_batch), comm_median, 100 * comm_median / median,
                    1000.0 * static_cast<double>(a->batch) / median);
    }
    if (a->profile) {
      std::FILE* out = a->json ? stderr : stdout;
      std::fputc('\n', out);
      profiler::print_profile(out);
    }
  });
}

}  // namespace signet::cli
