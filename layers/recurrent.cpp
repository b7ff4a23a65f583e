#include "layers/recurrent.h"

#include <cmath>

#include "engine/ops.h"

namespace signet {

namespace {
std::string label(const std::string& path, const char* type) { return path.empty() ? type : path; }
}  // namespace

Embedding::Embedding(int64_t num_embeddings, int64_t dim, Rng& init_rng)
    : num_(num_embeddings), dim_(dim) {
  SIGNET_CHECK(num_embeddings > 0 && dim > 0, "Embedding({}, {}): sizes must be positive",
               num_embeddings, dim);
  Tensor w = Tensor::empty({num_embeddings, dim});
  float* p = w.f32();
  for (int64_t i = 0, n = w.numel(); i < n; ++i) p[i] = static_cast<float>(init_rng.normal());
  register_parameter("weight", w);
}

Tensor Embedding::forward(const Tensor& ids, Taps*) {
  SIGNET_CHECK(ids.dtype() == DType::I64,
               "{} ({} x {}): expects int64 token ids, got {}", label(path_, "Embedding"), num_,
               dim_, ids.str());
  return embedding(params_[0].second, ids);
}

LSTM::LSTM(int64_t input_size, int64_t hidden_size, Rng& init_rng, bool return_last)
    : input_(input_size), hidden_(hidden_size), return_last_(return_last) {
  SIGNET_CHECK(input_size > 0 && hidden_size > 0, "LSTM({}, {}): sizes must be positive",
               input_size, hidden_size);
  const float bound = 1.0f / std::sqrt(static_cast<float>(hidden_size));
  auto uniform = [&](const Shape& s) {
    Tensor t = Tensor::empty(s);
    float* p = t.f32();
    for (int64_t i = 0, n = t.numel(); i < n; ++i) p[i] = init_rng.uniform(-bound, bound);
    return t;
  };
  const int64_t G = 4 * hidden_size;
  register_parameter("weight_ih_l0", uniform({G, input_size}));
  register_parameter("weight_hh_l0", uniform({G, hidden_size}));
  register_parameter("bias_ih_l0", uniform({G}));
  register_parameter("bias_hh_l0", uniform({G}));
}

LstmOut LSTM::forward_full(const Tensor& x, const Tensor& h0, const Tensor& c0) {
  SIGNET_CHECK(x.dim() == 3 && x.size(2) == input_,
               "{} ({} -> {}): expected input [batch, time, {}] (batch-first), got {}",
               label(path_, "LSTM"), input_, hidden_, input_, shape_str(x.shape()));
  return lstm(x, params_[0].second, params_[1].second, params_[2].second, params_[3].second, h0,
              c0);
}

Tensor LSTM::forward(const Tensor& x, Taps*) {
  LstmOut r = forward_full(x);
  return return_last_ ? r.h_n : r.output;
}

Tensor LastStep::forward(const Tensor& x, Taps*) {
  SIGNET_CHECK(x.dim() == 3 && x.size(1) >= 1,
               "{}: expected [batch, time, features] with time >= 1, got {}",
               label(path_, "LastStep"), shape_str(x.shape()));
  const int64_t B = x.size(0), T = x.size(1), H = x.size(2);
  return reshape(narrow(x, 1, T - 1, 1), {B, H});
}

}  // namespace signet
