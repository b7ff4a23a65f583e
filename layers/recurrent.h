// Recurrent-model layers (the IMDB model of DeepSigns: Embedding(5000, 32) -> LSTM(100) ->
// last hidden state -> Linear(1)). PyTorch's parameter names and initialisation, so state
// dicts move between the two unchanged.
//
// Embedding(num, dim): parameter `weight` [num, dim], initialised N(0, 1) (nn.Embedding).
//   forward(ids int64 [...]) -> [..., dim]; an id outside [0, num) is an Error naming it.
// LSTM(input, hidden): one layer, unidirectional, batch-first (nn.LSTM(input, hidden,
//   batch_first=True)). Parameters in PyTorch's order: `weight_ih_l0` [4H, input],
//   `weight_hh_l0` [4H, H], `bias_ih_l0` [4H], `bias_hh_l0` [4H], all uniform in
//   +-1/sqrt(hidden). Gate order i, f, g, o (engine/ops/lstm.h). h0 = c0 = 0.
//   forward(x [B, T, input]) -> the full output [B, T, H], or with return_last the last
//   hidden state h_n [B, H]. forward_full gives output, h_n and c_n and takes h0 / c0.
// LastStep: [B, T, H] -> [B, H], the last time step (x[:, -1] in PyTorch); a view.
#pragma once
#include "engine/ops/lstm.h"
#include "layers/module.h"

namespace signet {

class Embedding : public Module {
 public:
  Embedding(int64_t num_embeddings, int64_t dim, Rng& init_rng);
  std::string type_name() const override { return "Embedding"; }
  Tensor& weight() { return params_[0].second; }
  int64_t num_embeddings() const { return num_; }
  int64_t embedding_dim() const { return dim_; }

 protected:
  Tensor forward(const Tensor& ids, Taps* taps) override;

 private:
  int64_t num_, dim_;
};

class LSTM : public Module {
 public:
  LSTM(int64_t input_size, int64_t hidden_size, Rng& init_rng, bool return_last = false);
  std::string type_name() const override { return "LSTM"; }
  Tensor& weight_ih() { return params_[0].second; }
  Tensor& weight_hh() { return params_[1].second; }
  Tensor& bias_ih() { return params_[2].second; }
  Tensor& bias_hh() { return params_[3].second; }
  int64_t input_size() const { return input_; }
  int64_t hidden_size() const { return hidden_; }
  bool return_last() const { return return_last_; }
  // Output, h_n and c_n; h0 / c0 ([B, H]) default to zeros.
  LstmOut forward_full(const Tensor& x, const Tensor& h0 = Tensor(), const Tensor& c0 = Tensor());

 protected:
  Tensor forward(const Tensor& x, Taps* taps) override;

 private:
  int64_t input_, hidden_;
  bool return_last_;
};

class LastStep : public Module {
 public:
  std::string type_name() const override { return "LastStep"; }

 protected:
  Tensor forward(const Tensor& x, Taps* taps) override;
};

}  // namespace signet
