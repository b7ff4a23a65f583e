// LSTM: one layer, unidirectional, batch-first, PyTorch's math, gate order and parameter
// layout (weight_ih_l0 [4H, D], weight_hh_l0 [4H, H], bias_ih_l0 [4H], bias_hh_l0 [4H]), so a
// PyTorch state dict loads unchanged.
//
// lstm_cell_pointwise(gates [B, 4H], c_prev [B, H]) -> {h [B, H], c [B, H]}: the gate math of
//   one step. gates = [a_i | a_f | a_g | a_o] (pre-activations, column blocks of H);
//     i = sigmoid(a_i), f = sigmoid(a_f), g = tanh(a_g), o = sigmoid(a_o)
//     c = f * c_prev + i * g,   h = o * tanh(c).
//   Gradients (gh, gc the incoming gradients of h and c):
//     dc = gc + gh * o * (1 - tanh(c)^2),  d c_prev = dc * f,
//     d a_i = dc * g * i (1 - i),  d a_f = dc * c_prev * f (1 - f),
//     d a_g = dc * i * (1 - g^2),  d a_o = gh * tanh(c) * o (1 - o).
//   With grad mode off during backward a fused kernel computes them; with create_graph they
//   are built from differentiable ops (so second derivatives work).
//   h and c are views of one recorded [2, B, H] result (the engine's nodes have one output).
//
// lstm(x [B, T, D], w_ih, w_hh, b_ih, b_hh, h0, c0) -> {output [B, T, H], h_n [B, H], c_n [B, H]}
//   For t = 0..T-1:  gates_t = x_t w_ih^T + b_ih + h_{t-1} w_hh^T + b_hh   ([B, 4H])
//                    (h_t, c_t) = lstm_cell_pointwise(gates_t, c_{t-1})
//   output[:, t] = h_t; h_n = h_{T-1}; c_n = c_{T-1}. h0, c0 ([B, H]) default to zeros;
//   biases may be undefined (bias=False). T >= 1.
//   Implementation: one autograd node for the whole sequence. Forward hoists the input
//   projection out of the time loop (one GEMM [B*T, D] x [D, 4H] for every step), then per
//   step one GEMM h_{t-1} w_hh^T accumulated in place and the fused pointwise kernel (which
//   also adds both biases); the activated gates and every c_t are saved. Threads split the
//   batch: each runs the whole time loop for its rows (one parallel region per sequence, no
//   per-step barrier; OpenBLAS runs single-threaded inside). Backward (grad mode off) is fused
//   backpropagation through time: per step (from T-1 down) the pointwise backward and one
//   GEMM dgates_t w_hh, then three large GEMMs for d w_ih = dG^T X, d w_hh = dG^T H_prev,
//   d x = dG w_ih and a column sum for the biases.
//   With create_graph the backward re-runs lstm_composed on the node's inputs and
//   differentiates it with create_graph, so double backward is exact. It is slow: a graph of
//   ~50 small ops per step, all kept alive (the IMDB size, B=64 T=500 H=100, takes about
//   15-35 s and 4 GB peak on the 2-core machine), and it also walks the graph upstream of the
//   node's inputs once.
//   Why one node and not per-step recorded ops: a node has one output, so slicing the
//   hoisted projection per step would give every step a full-size padded gradient (O(T^2)).
//
// lstm_composed(...): the same function built from per-step differentiable ops (narrow,
//   linear, add, lstm_cell_pointwise, concat): the readable reference, used by tests and by
//   lstm's double backward. x is cut into time steps and the h_t joined by balanced trees of
//   narrow / concat, so the padded gradients of the slices cost O(T log T), not O(T^2).
#pragma once
#include <cstdint>

#include "engine/tensor.h"

namespace signet {

struct LstmCellOut {
  Tensor h, c;
};
LstmCellOut lstm_cell_pointwise(const Tensor& gates, const Tensor& c_prev);

struct LstmOut {
  Tensor output;  // [B, T, H], every h_t
  Tensor h_n;     // [B, H]
  Tensor c_n;     // [B, H]
};
LstmOut lstm(const Tensor& x, const Tensor& w_ih, const Tensor& w_hh, const Tensor& b_ih,
             const Tensor& b_hh, const Tensor& h0 = Tensor(), const Tensor& c0 = Tensor());
LstmOut lstm_composed(const Tensor& x, const Tensor& w_ih, const Tensor& w_hh,
                      const Tensor& b_ih, const Tensor& b_hh, const Tensor& h0 = Tensor(),
                      const Tensor& c0 = Tensor());

// FLOPs of one lstm forward + fused backward (GEMMs only; for benchmark counters).
double lstm_train_flops(int64_t B, int64_t T, int64_t D, int64_t H);

namespace cpu {
// B rows of a row-major matrix: row r starts at p + r * ld. A null p reads as zeros.
struct Rows {
  const float* p = nullptr;
  int64_t ld = 0;
};
struct MutRows {
  float* p = nullptr;
  int64_t ld = 0;
};

// Forward gate math for B rows of H units: reads gates (pre-activations, 4H per row) and
// c_prev (null: zeros), writes h, c and, when act.p is set, the activated gates [i f g o]
// (act may alias gates: the fast path activates in place).
void lstm_cell_forward_ref(int64_t B, int64_t H, Rows gates, Rows c_prev, MutRows h, MutRows c,
                           MutRows act);
void lstm_cell_forward_fast(int64_t B, int64_t H, Rows gates, Rows c_prev, MutRows h,
                            MutRows c, MutRows act);
// Backward from the activated gates and c: gh / gc null read as zeros; d_cprev (optional)
// may alias gc.
void lstm_cell_backward_ref(int64_t B, int64_t H, Rows act, Rows c_prev, Rows c, Rows gh,
                            Rows gc, MutRows d_gates, MutRows d_cprev);
void lstm_cell_backward_fast(int64_t B, int64_t H, Rows act, Rows c_prev, Rows c, Rows gh,
                             Rows gc, MutRows d_gates, MutRows d_cprev);

struct LstmDims {
  int64_t B, T, D, H;
};
// c_n [B, H] = the last step's cells of cs [B, T, H].
void lstm_last_cells(const float* cs, int64_t B, int64_t T, int64_t H, float* c_n);
// Whole-sequence kernels, all buffers packed row-major. Nullable: b_ih, b_hh, h0, c0 (zeros)
// and every gradient output that is not wanted. out_h, out_c [B, T, H]; act [B, T, 4H].
void lstm_seq_forward(LstmDims d, const float* x, const float* w_ih, const float* w_hh,
                      const float* b_ih, const float* b_hh, const float* h0, const float* c0,
                      float* out_h, float* out_c, float* act);
// g_out [B, T, H] (the gradient of output, h_n's already added at t = T-1), g_cn [B, H] or
// null. Writes dx [B, T, D], dw_ih, dw_hh, db (the gradient of either bias), dh0, dc0.
void lstm_seq_backward(LstmDims d, const float* x, const float* w_ih, const float* w_hh,
                       const float* h0, const float* c0, const float* out_h, const float* out_c,
                       const float* act, const float* g_out, const float* g_cn, float* dx,
                       float* dw_ih, float* dw_hh, float* db, float* dh0, float* dc0);
}  // namespace cpu

}  // namespace signet
