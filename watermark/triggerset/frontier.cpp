// Frontier stitching (Le Merrer, Perez, Tredan; Neural Computing and Applications 2019): key
// inputs near the decision frontier of the trained model. FGSM adversarial examples at step eps,
//   x' = clip(x + eps * sign(d loss / d x), 0, 1),
// of training images: "true adversaries" (x' now misclassified) and "false adversaries" (x' still
// right), half and half, labelled with their TRUE classes and fine-tuned into the model, which
// moves the frontier so that the marked model gets all of them right.
//
// Statistic and null. The verifier counts key errors (mismatches with the true labels); here, as
// for every trigger set, matches M = K - errors. A model that was not fine-tuned on the keys is
// not ignorant of them: it classifies the false adversaries right almost always and many true
// adversaries too (FGSM examples of one model transfer to others only partly). So the null rate
// q0 is the agreement of unmarked models, measured at embedding time on (a) the unmarked model
// itself (by construction exactly the false adversaries: 1/2) and (b) a reference model of the
// same architecture trained independently without the keys (the realistic unrelated model; it
// typically agrees far more than 1/2), q0 = the larger Clopper-Pearson upper bound. The paper's
// own threshold assumes a fixed per-key error rate instead; measuring it is the sound version.
#include <fmt/format.h>

#include <algorithm>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "models/trainer.h"
#include "watermark/triggerset/frontier.h"
#include "watermark/triggerset/schemes.h"
#include "watermark/triggerset/trigger_set.h"

namespace signet {

// FGSM of raw-pixel images [n, C, H, W] against `model` (eval mode) with labels y: the sign of the
// input gradient is the same for raw and normalised inputs (the normalisation divides by std > 0).
Tensor fgsm(Model& model, const Normalization& norm, const Tensor& x, const Tensor& y, float eps) {
  model.net->eval();
  Tensor leaf = normalise_inputs(x, norm).detach();
  leaf.set_requires_grad(true);
  const Tensor loss = model_loss(model, model(leaf), y);
  const Tensor g = grad(loss, {leaf})[0].contiguous();
  Tensor out = x.contiguous().clone();
  float* o = out.f32();
  const float* gp = g.f32();
  for (int64_t i = 0; i < out.numel(); ++i) {
    const float s = gp[i] > 0 ? 1.0f : (gp[i] < 0 ? -1.0f : 0.0f);
    o[i] = std::min(1.0f, std::max(0.0f, o[i] + eps * s));
  }
  return out;
}

namespace {

class FrontierStitching final : public TriggerSetScheme {
 public:
  const SchemeInfo& info() const override {
    static const SchemeInfo i = [] {
      SchemeInfo s = common_info(kFrontierStitching, false);
      s.summary = "frontier stitching: FGSM examples near the frontier (half misclassified), fine-tuned with their true "
                  "labels";
      s.paper = "Le Merrer, Perez, Tredan (Neural Computing and Applications 2019)";
      s.short_label = "frontier";
      s.null_hypothesis = "the suspect was not fine-tuned on the keys: it labels each key right at most at the rate "
                          "measured on the unmarked model and an independently trained reference (upper bound)";
      s.finetune_epochs = 10;  // the limit: fine-tuning stops once every key is right
      return s;
    }();
    return i;
  }
  const std::vector<SchemeOption>& options() const override {
    static const std::vector<SchemeOption> o = [] {
      auto v = common_options(Null::Reference, 100);
      v.push_back(real_option("eps", 0.1, 1e-6, 1, "FGSM step (pixels in [0, 1])"));
      return v;
    }();
    return o;
  }
  std::string describe(const SchemeParams& p) const override {
    return fmt::format("frontier stitching, K = {} keys at eps = {}", p.integer("keys"), p.real("eps"));
  }

 protected:
  Null null_kind() const override { return Null::Reference; }
  bool independent_reference() const override { return true; }

  TriggerSet generate(const EmbedJob& job, Model& model, const Normalization& norm, Rng& rng) const override {
    const int64_t K = job.params.integer("keys");
    SIGNET_CHECK(K >= 2, "{} needs --keys >= 2 (half true, half false adversaries)", kFrontierStitching);
    const float eps = static_cast<float>(job.params.real("eps"));
    const int64_t want_true = K / 2, want_false = K - K / 2;
    const Dataset& train = *job.train;
    std::vector<int64_t> order(train.size());
    for (int64_t i = 0; i < train.size(); ++i) order[i] = i;
    rng.shuffle(order);
    std::vector<Tensor> true_x, false_x;
    std::vector<int64_t> true_y, false_y;
    int64_t tried = 0;
    constexpr int64_t kBatch = 256;
    for (int64_t start = 0; start < train.size(); start += kBatch) {
      if (static_cast<int64_t>(true_y.size()) >= want_true && static_cast<int64_t>(false_y.size()) >= want_false) break;
      const int64_t n = std::min(kBatch, train.size() - start);
      const Tensor idx = Tensor::from_vector_i64(std::vector<int64_t>(order.begin() + start, order.begin() + start + n),
                                                 {n});
      const Tensor x = index_select(train.images, 0, idx).contiguous(), y = index_select(train.labels, 0, idx);
      const Tensor adv = fgsm(model, norm, x, y, eps);
      LocalModelOracle o(model, norm, model.name);
      const auto pred = o.labels(adv).to_vector_i64(), yv = y.to_vector_i64();
      tried += n;
      for (int64_t i = 0; i < n; ++i) {
        const bool wrong = pred[i] != yv[i];
        auto& xs = wrong ? true_x : false_x;
        auto& ys = wrong ? true_y : false_y;
        if (static_cast<int64_t>(ys.size()) >= (wrong ? want_true : want_false)) continue;
        xs.push_back(adv.narrow_view(0, i, 1));
        ys.push_back(yv[i]);
      }
    }
    SIGNET_CHECK(static_cast<int64_t>(true_y.size()) >= want_true && static_cast<int64_t>(false_y.size()) >= want_false,
                 "FGSM at eps {} over all {} training images gave {} true adversaries (need {}) and {} false ones "
                 "(need {}): {} --eps, or lower --keys",
                 eps, tried, true_y.size(), want_true, false_y.size(), want_false,
                 static_cast<int64_t>(true_y.size()) < want_true ? "raise" : "lower");
    // Interleave so that any prefix holds both kinds; the labels are the true classes.
    std::vector<Tensor> xs;
    std::vector<int64_t> ys;
    for (int64_t i = 0; i < want_false; ++i) {
      xs.push_back(false_x[i]);
      ys.push_back(false_y[i]);
      if (i < want_true) {
        xs.push_back(true_x[i]);
        ys.push_back(true_y[i]);
      }
    }
    TriggerSet ts;
    ts.inputs = concat(xs, 0).contiguous();
    ts.labels = Tensor::from_vector_i64(ys, {K});
    ts.meta["signet.eps"] = fmt::format("{}", eps);
    ts.meta["signet.true_adversaries"] = std::to_string(want_true);
    ts.meta["signet.false_adversaries"] = std::to_string(want_false);
    ts.lines.push_back(fmt::format("FGSM at eps {} on {} training images: {} true and {} false adversaries kept", eps,
                                   tried, want_true, want_false));
    return ts;
  }
};

}  // namespace

const Scheme& frontier_stitching_scheme() {
  static const FrontierStitching s;
  return s;
}

}  // namespace signet
