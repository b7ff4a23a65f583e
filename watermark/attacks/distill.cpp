// The distillation (model-extraction) attack (watermark/attacks/attacks.h): a thief who can only
// query the stolen model trains its own model on the answers.
#include <fmt/format.h>

#include <chrono>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "layers/optim.h"
#include "watermark/attacks/attacks.h"

namespace signet {

namespace {
// The teacher's answers for `inputs`, 1000 at a time: soft targets [n, C] (one-hot for labels).
Tensor teacher_targets(Oracle& teacher, const Tensor& inputs, bool scores, int64_t classes) {
  const int64_t n = inputs.size(0), step = 1000;
  Tensor out = Tensor::zeros({n, classes});
  for (int64_t i = 0; i < n; i += step) {
    const int64_t len = std::min(step, n - i);
    const Tensor x = inputs.narrow_view(0, i, len).contiguous();
    if (scores) {
      const Tensor s = teacher.scores(x);
      SIGNET_CHECK(s.dim() == 2 && s.size(1) == classes, "distill: the stolen model answers {} scores per input, the "
                   "student has {} classes", s.dim() == 2 ? s.size(1) : -1, classes);
      std::copy(s.f32(), s.f32() + len * classes, out.f32() + i * classes);
    } else {
      const Tensor y = teacher.labels(x);
      for (int64_t k = 0; k < len; ++k) {
        const int64_t c = y.i64()[k];
        SIGNET_CHECK(c >= 0 && c < classes, "distill: the stolen model answered class {} (student: {} classes)", c,
                     classes);
        out.f32()[(i + k) * classes + c] = 1;
      }
    }
  }
  return out;
}
}  // namespace

DistillReport distill_attack(Oracle& teacher, Model& student, const Dataset& thief_data, const Normalization& norm,
                             const DistillConfig& cfg) {
  SIGNET_CHECK(cfg.answers == "labels" || cfg.answers == "scores", "distill: --answers must be labels or scores, got '{}'",
               cfg.answers);
  SIGNET_CHECK(student.loss == "cross_entropy", "distill: the student {} has a one-logit (bce) output; distillation "
               "trains soft-max classifiers", student.name);
  SIGNET_CHECK(!thief_data.is_tokens() && thief_data.size() > 0, "distill: the thief needs a non-empty image data set");
  SIGNET_CHECK(cfg.queries >= 0, "distill: --queries must be >= 0, got {}", cfg.queries);
  SIGNET_CHECK(cfg.train.epochs >= 1 && cfg.train.batch_size >= 1 && cfg.train.lr > 0,
               "distill: epochs, batch size and learning rate must be positive");
  const int64_t classes = student.config.num_classes;
  // Which inputs the thief spends its query budget on: a seeded random subset of its data.
  Rng rng(cfg.train.seed);
  std::vector<int64_t> order(static_cast<size_t>(thief_data.size()));
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int64_t>(i);
  rng.shuffle(order);
  const int64_t n = cfg.queries > 0 ? std::min<int64_t>(cfg.queries, thief_data.size()) : thief_data.size();
  order.resize(static_cast<size_t>(n));
  const Tensor inputs = index_select(thief_data.images, 0, Tensor::from_vector_i64(order, {n})).contiguous();
  const int64_t before = teacher.queries();
  const Tensor targets = teacher_targets(teacher, inputs, cfg.answers == "scores", classes);
  DistillReport rep;
  rep.queries = teacher.queries() - before;

  // Soft-target cross-entropy, -sum_c p_c log softmax(z)_c, averaged over the batch: with labels
  // it is plain cross-entropy on the teacher's labels.
  const auto t0 = std::chrono::steady_clock::now();
  auto opt = make_optimizer(cfg.train.optimizer, student.net->named_parameters(), cfg.train.lr, cfg.train.momentum,
                            cfg.train.weight_decay, cfg.train.nesterov);
  const Tensor x_all = normalise_inputs(inputs, norm);
  std::vector<int64_t> idx(static_cast<size_t>(n));
  for (int64_t e = 0; e < cfg.train.epochs; ++e) {
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<int64_t>(i);
    rng.shuffle(idx);
    student.net->train(true);
    double total = 0;
    int64_t batches = 0;
    for (int64_t s = 0; s < n; s += cfg.train.batch_size) {
      const int64_t len = std::min(cfg.train.batch_size, n - s);
      const Tensor bi = Tensor::from_vector_i64(std::vector<int64_t>(idx.begin() + s, idx.begin() + s + len), {len});
      const Tensor x = index_select(x_all, 0, bi), p = index_select(targets, 0, bi);
      opt->zero_grad();
      const Tensor loss = mul_scalar(sum(mul(p, log_softmax(student(x), 1))), -1.0f / static_cast<float>(len));
      loss.backward();
      {
        NoGradGuard ng;
        opt->step();
      }
      total += loss.item();
      ++batches;
    }
    rep.train.epoch_loss.push_back(static_cast<float>(total / static_cast<double>(std::max<int64_t>(batches, 1))));
    rep.train.epochs_run = e + 1;
  }
  rep.train.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  student.net->train(false);
  // How often the student now answers like the stolen model on the thief's queries.
  std::vector<int64_t> pred;
  for (int64_t i = 0; i < n; i += 1000) {
    const int64_t len = std::min<int64_t>(1000, n - i);
    const std::vector<int64_t> p = argmax(predict(student, x_all.narrow_view(0, i, len).contiguous()), 1).to_vector_i64();
    pred.insert(pred.end(), p.begin(), p.end());
  }
  int64_t agree = 0;
  for (int64_t i = 0; i < n; ++i) {
    int64_t best = 0;
    for (int64_t c = 1; c < classes; ++c)
      if (targets.f32()[i * classes + c] > targets.f32()[i * classes + best]) best = c;
    agree += pred[static_cast<size_t>(i)] == best;
  }
  rep.agreement = static_cast<double>(agree) / static_cast<double>(n);
  return rep;
}

}  // namespace signet
