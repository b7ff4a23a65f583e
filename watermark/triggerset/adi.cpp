// Adi, Baum, Cisse, Pinkas, Keshet (USENIX Security'18), "Turning your weakness into a strength:
// watermarking deep neural networks by backdooring": a trigger set of abstract images with random
// labels, trained into the model (from scratch, or by fine-tuning with --from).
//
// The paper's 100 abstract images are a fixed picture collection; here each image is drawn from
// the secret key material (so the keys file could be regenerated from a key seed; it stores them
// anyway): a random background per channel with 3-7 random shapes over it (filled rectangles,
// filled ellipses, and sinusoidal stripe patches), each in a random colour. Labels are uniform
// over the C classes, independent of the images: an unmarked model agrees with each with
// probability exactly 1/C (the "chance" null of trigger_set.h).
#include <fmt/format.h>

#include <cmath>

#include "watermark/triggerset/schemes.h"
#include "watermark/triggerset/trigger_set.h"

namespace signet {
namespace {

// One abstract image [C, H, W] into `out`.
void draw_abstract(float* out, int64_t C, int64_t H, int64_t W, Rng& rng) {
  for (int64_t c = 0; c < C; ++c) {
    const float bg = rng.uniform(0.0f, 1.0f);
    for (int64_t i = 0; i < H * W; ++i) out[c * H * W + i] = bg;
  }
  const int64_t shapes = 3 + static_cast<int64_t>(rng.below(5));
  for (int64_t s = 0; s < shapes; ++s) {
    const uint64_t kind = rng.below(3);
    std::vector<float> colour(C);
    for (float& v : colour) v = rng.uniform(0.0f, 1.0f);
    const float cx = rng.uniform(0.0f, static_cast<float>(W)), cy = rng.uniform(0.0f, static_cast<float>(H));
    const float rx = rng.uniform(0.1f, 0.45f) * W, ry = rng.uniform(0.1f, 0.45f) * H;
    const float freq = rng.uniform(0.3f, 1.5f), angle = rng.uniform(0.0f, 3.14159265f);
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x) {
        const float dx = (static_cast<float>(x) - cx) / rx, dy = (static_cast<float>(y) - cy) / ry;
        bool inside = false;
        float shade = 1;
        if (kind == 0) {
          inside = std::fabs(dx) <= 1 && std::fabs(dy) <= 1;
        } else if (kind == 1) {
          inside = dx * dx + dy * dy <= 1;
        } else {
          inside = std::fabs(dx) <= 1 && std::fabs(dy) <= 1;
          shade = 0.5f + 0.5f * std::sin(freq * (x * std::cos(angle) + y * std::sin(angle)));
        }
        if (!inside) continue;
        for (int64_t c = 0; c < C; ++c) out[(c * H + y) * W + x] = colour[c] * shade;
      }
  }
}

class Adi final : public TriggerSetScheme {
 public:
  const SchemeInfo& info() const override {
    static const SchemeInfo i = [] {
      SchemeInfo s = common_info(kAdi, true);
      s.summary = "Adi et al.: abstract images drawn from the key, with random labels";
      s.paper = "Adi, Baum, Cisse, Pinkas, Keshet (USENIX Security'18)";
      s.short_label = "adi";
      s.null_hypothesis = "labels uniform and independent of the inputs: a model not trained on them matches each "
                          "with probability 1/C, matches ~ Binomial(K, 1/C)";
      return s;
    }();
    return i;
  }
  const std::vector<SchemeOption>& options() const override {
    static const std::vector<SchemeOption> o = common_options(Null::Chance, 100);
    return o;
  }
  std::string describe(const SchemeParams& p) const override {
    return fmt::format("Adi et al. trigger set, K = {} abstract images with random labels", p.integer("keys"));
  }

 protected:
  Null null_kind() const override { return Null::Chance; }
  TriggerSet generate(const EmbedJob& job, Model& model, const Normalization&, Rng& rng) const override {
    const int64_t K = job.params.integer("keys");
    const Shape& s = model.config.input_shape;
    SIGNET_CHECK(s.size() == 3, "{} draws images; the model takes inputs of shape [{}]", kAdi, join_shape(s));
    const int64_t C = s[0], H = s[1], W = s[2], classes = model.config.num_classes;
    TriggerSet ts;
    ts.inputs = Tensor::empty({K, C, H, W});
    std::vector<int64_t> labels(K);
    for (int64_t k = 0; k < K; ++k) {
      draw_abstract(ts.inputs.f32() + k * C * H * W, C, H, W, rng);
      labels[k] = static_cast<int64_t>(rng.below(static_cast<uint64_t>(classes)));
    }
    ts.labels = Tensor::from_vector_i64(labels, {K});
    ts.lines.push_back(fmt::format("{} abstract images drawn from the key, labels uniform over {} classes", K, classes));
    return ts;
  }
};

}  // namespace

const Scheme& adi_scheme() {
  static const Adi s;
  return s;
}

}  // namespace signet
