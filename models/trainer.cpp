#include "models/trainer.h"

#include "engine/profiler.h"

#include <chrono>
#include <cmath>

#include "engine/dist/communicator.h"
#include "engine/ops.h"
#include "models/data_parallel.h"
#include "models/progress.h"

namespace signet {

static DataLoaderOptions loader_options(const Normalization& norm, int64_t batch, bool shuffle, uint64_t seed) {
  DataLoaderOptions o;
  o.batch_size = batch;
  o.shuffle = shuffle;
  o.drop_last = false;
  o.seed = seed;
  o.mean = norm.mean;
  o.stddev = norm.stddev;
  return o;
}

Tensor model_loss(const Model& model, const Tensor& logits, const Tensor& y) {
  if (model.loss == "cross_entropy") return cross_entropy(logits, y);
  SIGNET_CHECK(model.loss == "bce", "{}: unknown loss kind '{}' (cross_entropy | bce)", model.name, model.loss);
  SIGNET_CHECK(logits.dim() == 2 && logits.size(1) == 1 && y.dim() == 1 && y.size(0) == logits.size(0),
               "{}: binary cross-entropy needs one logit per sample [N, 1] and labels [N], got {} and {}",
               model.name, shape_str(logits.shape()), shape_str(y.shape()));
  SIGNET_CHECK(y.dtype() == DType::I64, "{}: labels must be int64, got {}", model.name, y.str());
  const int64_t n = y.numel();
  Tensor t = Tensor::empty({n});
  const Tensor yc = y.to(Device::cpu()).contiguous();  // labels checked and converted on the host
  const int64_t bad = cpu::labels_to_binary(yc.i64(), n, t.f32());
  SIGNET_CHECK(bad < 0, "{}: binary model, but label {} at batch position {} is not 0 or 1", model.name,
               bad < 0 ? 0 : yc.i64()[bad], bad);
  return bce_with_logits(reshape(logits, {n}), t.to(logits.device()));
}

int64_t count_correct(const Model& model, const Tensor& logits_any, const Tensor& y) {
  // Counted on the host: the logits of a batch are small.
  const Tensor logits = logits_any.to(Device::cpu()), yc = y.to(Device::cpu()).contiguous();
  if (model.loss == "bce") {
    const Tensor z = logits.contiguous();
    SIGNET_CHECK(z.numel() == y.numel(), "{}: {} logits for {} labels", model.name, z.numel(), y.numel());
    return cpu::count_sign_agreement(z.f32(), yc.i64(), y.numel());
  }
  return cpu::count_equal(argmax(logits, 1).i64(), yc.i64(), y.numel());
}

ModelConfig config_for_dataset(const Dataset& train_set, float dropout) {
  ModelConfig mc;
  mc.num_classes = train_set.num_classes;
  mc.input_shape = Shape(train_set.images.shape().begin() + 1, train_set.images.shape().end());
  mc.dropout = dropout;
  mc.vocab_size = train_set.is_tokens() ? train_set.vocab_size : 0;
  return mc;
}

void check_epochs(int64_t epochs, const std::string& flag) {
  SIGNET_CHECK(epochs >= 0, "{} must be >= 0, got {}", flag, epochs);
  SIGNET_CHECK(epochs <= kMaxEpochs, "{} must be at most {} (a larger count is surely a typo), got {}", flag,
               kMaxEpochs, epochs);
}

TrainResult train_model(Model& model, const Dataset& train_set, const Normalization& norm, const TrainConfig& cfg) {
  check_epochs(cfg.epochs);
  SIGNET_CHECK(cfg.warmup_steps >= 0, "--warmup-steps must be >= 0, got {}", cfg.warmup_steps);
  SIGNET_CHECK(cfg.batch_size > 0, "--batch-size must be positive, got {}", cfg.batch_size);
  SIGNET_CHECK(std::isfinite(cfg.lr) && cfg.lr > 0, "--lr must be a positive number, got {}", cfg.lr);
  SIGNET_CHECK(train_set.num_classes <= model.config.num_classes, "the data set has {} classes but the model only {}",
               train_set.num_classes, model.config.num_classes);
  SIGNET_CHECK(model.loss != "bce" || train_set.num_classes <= 2,
               "the data set has {} classes but {} is a binary model (one logit, labels 0/1)", train_set.num_classes,
               model.name);
  SIGNET_CHECK(train_set.is_tokens() == model.takes_tokens(), "{} takes {}, but the data set '{}' holds {}",
               model.name, model.takes_tokens() ? "token sequences" : "images", train_set.name,
               train_set.is_tokens() ? "token sequences" : "images");
  SIGNET_CHECK(cfg.device.is_cpu() || (!cfg.extra_loss && cfg.extra_params.empty() && !cfg.after_step),
               "training on {}: watermark regularizers and attack hooks run on the CPU only for now; use --device cpu",
               cfg.device.str());
  SIGNET_CHECK(cfg.probes_per_epoch >= 0, "probes per epoch must be >= 0, got {}", cfg.probes_per_epoch);
  SIGNET_CHECK(cfg.device.is_cpu() || !cfg.probe, "training on {}: accuracy probes run on the CPU only for now",
               cfg.device.str());
  SIGNET_CHECK(cfg.device.is_cpu() || cfg.resume_path.empty(),
               "--resume with --device {}: resuming runs on the CPU only for now (checkpoints saved on a GPU can be "
               "resumed with --device cpu)", cfg.device.str());
  dist::Communicator& comm = dist::world();
  const bool parallel = comm.size() > 1;
  DataLoaderOptions lo = loader_options(norm, cfg.batch_size, true, cfg.seed);
  lo.augment = cfg.augment;
  lo.shard = comm.rank();
  lo.shards = comm.size();
  DataLoader loader(train_set, lo);
  model.net->to(cfg.device);
  NamedTensorList trained = model.net->named_parameters();
  for (const auto& p : cfg.extra_params) trained.push_back(p);
  auto opt = make_optimizer(cfg.optimizer, trained, cfg.lr, cfg.momentum, cfg.weight_decay, cfg.nesterov);
  const int64_t steps_per_epoch = loader.num_batches();
  LrSchedule sched = make_schedule(cfg.schedule, cfg.lr, steps_per_epoch * cfg.epochs);
  sched.warmup_steps = cfg.warmup_steps;
  auto rng = std::make_shared<Rng>(cfg.seed ^ 0x5157'4e45'54ULL);
  model.net->set_rng(rng);

  std::vector<Tensor> averaged = cfg.rank_averaged_state;
  if (cfg.sync_bn)
    for (const auto& [name, buf] : model.net->named_buffers())
      if (buf.dtype() == DType::F32) averaged.push_back(buf);
  DataParallel dp(comm, trained, averaged);

  CheckpointState st;
  st.seed = cfg.seed;
  if (!cfg.resume_path.empty()) {
    check_same_file_on_all_ranks(comm, cfg.resume_path, "--resume");
    st = load_checkpoint(cfg.resume_path, model, *opt);
    SIGNET_CHECK(st.seed == cfg.seed, "{}: checkpoint was made with --seed {}, not {}", cfg.resume_path, st.seed, cfg.seed);
    rng->set_state(st.rng_state);
    // Every epoch takes at least one step and at most one per example, whatever the batch size.
    SIGNET_CHECK(st.global_step >= st.next_epoch && st.global_step <= st.next_epoch * train_set.size(),
                 "{}: signet.global_step {} cannot follow {} epochs of {} examples: the checkpoint is corrupt or "
                 "from another data set; train without --resume", cfg.resume_path, st.global_step, st.next_epoch,
                 train_set.size());
  }
  dp.broadcast_from_first();

  TrainResult res;
  const auto t0 = std::chrono::steady_clock::now();
  double probe_seconds = 0;  // time spent in cfg.probe, left out of the training time
  auto seconds_trained = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() - probe_seconds;
  };
  const int64_t probes = cfg.probe ? cfg.probes_per_epoch : 0;
  const bool layers_training = !cfg.inference_mode_layers;
  model.net->train(layers_training);
  for (int64_t epoch = st.next_epoch; epoch < cfg.epochs; ++epoch) {
    if (cfg.stop_after_epochs >= 0 && res.epochs_run >= cfg.stop_after_epochs) break;
    loader.start_epoch(epoch);
    // Each rank's dropout stream, a function of (seed, rank, epoch), so a resumed run repeats it.
    if (parallel) *rng = Rng((cfg.seed ^ 0x5157'4e45'54ULL) + 0x9e37'79b9'7f4a'7c15ULL * (comm.rank() + 1) + 1000003ULL * epoch);
    ProgressBar bar(fmt::format("epoch {}/{}", epoch + 1, cfg.epochs), steps_per_epoch,
                    cfg.progress && dist::is_writer());
    double loss_sum = 0;
    int64_t seen = 0, k = 0;
    Batch b;
    while (loader.next(b)) {
      if (!cfg.device.is_cpu()) b.x = b.x.to(cfg.device), b.y = b.y.to(cfg.device);
      opt->set_lr(sched.at(st.global_step));
      profiler::step_begin();  // no-op unless `--profile` turned the profiler on
      const int64_t local_n = b.y.numel(), global_n = b.global_size >= 0 ? b.global_size : local_n;
      float lv = 0;
      opt->zero_grad();
      if (local_n > 0) {  // a rank's shard of a short last batch may be empty: it adds no gradient
        Taps taps;
        taps.wanted.insert(cfg.taps.begin(), cfg.taps.end());
        Tensor logits = model(b.x, &taps);
        Tensor loss = model_loss(model, logits, b.y);
        if (cfg.extra_loss) {
          Tensor extra = cfg.extra_loss(b, logits, taps);
          if (extra.defined()) loss = add(loss, extra);
        }
        lv = loss.item();
        if (!std::isfinite(lv))
          throw TrainingDiverged(fmt::format(
              "the training loss became {} at epoch {} step {} (learning rate {}): lower --lr or check the data", lv,
              epoch + 1, k + 1, opt->lr()));
        if (parallel) {  // each bucket's exchange starts as soon as backward has finished its gradients
          dp.backward(loss, local_n, global_n, lv);
        } else {
          loss.backward();
        }
      }
      if (parallel) lv = static_cast<float>(dp.reduce_gradients(local_n, global_n, lv));
      {
        profiler::OpScope profile_op("optimizer.step");
        opt->step();
      }
      if (cfg.after_step) cfg.after_step();
      dp.average_state();
      profiler::step_end();
      ++st.global_step;
      ++res.steps;
      ++k;
      res.step_loss.push_back(lv);
      loss_sum += lv * global_n;
      seen += global_n;
      bar.update(k, loss_sum / seen, seen);
      // Probe j of the epoch runs after step ceil((j + 1) * steps / probes).
      if (probes > 0 && (k * probes) / steps_per_epoch != ((k - 1) * probes) / steps_per_epoch) {
        const auto p0 = std::chrono::steady_clock::now();
        cfg.probe(model, seconds_trained());
        model.net->train(layers_training);
        probe_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - p0).count();
      }
    }
    res.epoch_loss.push_back(static_cast<float>(loss_sum / std::max<int64_t>(seen, 1)));
    bar.finish(fmt::format("loss {:.4f}", res.epoch_loss.back()));
    ++res.epochs_run;
    st.next_epoch = epoch + 1;
    if (!cfg.checkpoint_path.empty() && dist::is_writer()) {
      st.rng_state = rng->state();
      save_checkpoint(cfg.checkpoint_path, model, *opt, norm, st);
    }
  }
  model.net->eval();
  model.net->to(Device::cpu());
  res.train_seconds = seconds_trained();
  return res;
}

EvalResult evaluate_model(Model& model, const Dataset& set, const Normalization& norm, int64_t batch_size) {
  NoGradGuard ng;
  model.net->eval();
  DataLoader loader(set, loader_options(norm, batch_size, false, 0));
  loader.start_epoch(0);
  EvalResult r;
  double loss_sum = 0;
  Batch b;
  while (loader.next(b)) {
    Tensor logits = model(b.x);
    loss_sum += model_loss(model, logits, b.y).item() * b.y.numel();
    r.correct += count_correct(model, logits, b.y);
    r.total += b.y.numel();
  }
  r.accuracy = r.total ? static_cast<double>(r.correct) / r.total : 0;
  r.loss = r.total ? loss_sum / r.total : 0;
  return r;
}

Tensor predict(Model& model, const Tensor& x, const std::string& layer) {
  NoGradGuard ng;
  model.net->eval();
  if (layer.empty()) return model(x);
  Taps taps;
  taps.wanted.insert(layer);
  model(x, &taps);
  return taps.require(layer);
}

}  // namespace signet
