// Autograd and dispatch for the LSTM ops (see lstm.h for the math and the design).
#include "engine/ops/lstm.h"

#include "engine/autograd.h"
#include "engine/cuda/runtime.h"
#include "engine/ops/binary.h"
#include "engine/ops/dispatch.h"
#include "engine/ops/matmul.h"
#include "engine/ops/reduce.h"
#include "engine/ops/shape.h"
#include "engine/ops/unary.h"

namespace signet {

namespace {

cpu::Rows rows(const Tensor& t, int64_t ld) { return {t.defined() ? t.f32() : nullptr, ld}; }
const float* ptr(const Tensor& t) { return t.defined() ? t.f32() : nullptr; }
Tensor packed(const Tensor& t) { return t.defined() ? t.contiguous() : t; }

void check_f32(const Tensor& t, const char* op, const char* what) {
  SIGNET_CHECK(t.dtype() == DType::F32, "{}: {} must be float32, got {}", op, what, t.str());
}

// The gradients of the cell, built from differentiable ops (used under create_graph).
std::vector<Tensor> cell_backward_composed(const Tensor& gates, const Tensor& c_prev,
                                           const Tensor& g) {
  const int64_t B = c_prev.size(0), H = c_prev.size(1);
  const Tensor gh = reshape(narrow(g, 0, 0, 1), {B, H});
  const Tensor gc = reshape(narrow(g, 0, 1, 1), {B, H});
  const Tensor i = sigmoid(narrow(gates, 1, 0, H));
  const Tensor f = sigmoid(narrow(gates, 1, H, H));
  const Tensor gg = tanh(narrow(gates, 1, 2 * H, H));
  const Tensor o = sigmoid(narrow(gates, 1, 3 * H, H));
  const Tensor tc = tanh(f * c_prev + i * gg);
  const Tensor dc = gc + gh * o * rsub_scalar(1.0f, tc * tc);
  const Tensor d_i = dc * gg * i * rsub_scalar(1.0f, i);
  const Tensor d_f = dc * c_prev * f * rsub_scalar(1.0f, f);
  const Tensor d_g = dc * i * rsub_scalar(1.0f, gg * gg);
  const Tensor d_o = gh * tc * o * rsub_scalar(1.0f, o);
  return {concat({d_i, d_f, d_g, d_o}, 1), dc * f};
}

cpu::LstmDims check_lstm(const char* op, const Tensor& x, const Tensor& w_ih, const Tensor& w_hh,
                         const Tensor& b_ih, const Tensor& b_hh, const Tensor& h0,
                         const Tensor& c0) {
  backend_for(op, {x, w_ih, w_hh, b_ih, b_hh, h0, c0}, true);  // a device runs lstm_composed; callers time it
  SIGNET_CHECK(x.dim() == 3, "{}: input must be [batch, time, features] (batch-first), got {}",
               op, shape_str(x.shape()));
  check_f32(x, op, "the input");
  const int64_t B = x.size(0), T = x.size(1), D = x.size(2);
  SIGNET_CHECK(B >= 1 && T >= 1 && D >= 1,
               "{}: input {} must have batch, time and feature sizes >= 1", op,
               shape_str(x.shape()));
  SIGNET_CHECK(w_ih.dim() == 2 && w_ih.size(0) % 4 == 0 && w_ih.size(0) > 0,
               "{}: weight_ih must be [4*hidden, input], got {}", op, shape_str(w_ih.shape()));
  const int64_t H = w_ih.size(0) / 4;
  SIGNET_CHECK(w_ih.size(1) == D, "{}: the input has {} features but weight_ih {} expects {}", op,
               D, shape_str(w_ih.shape()), w_ih.size(1));
  SIGNET_CHECK(w_hh.shape() == (Shape{4 * H, H}),
               "{}: weight_hh must be [{}, {}] for hidden size {}, got {}", op, 4 * H, H, H,
               shape_str(w_hh.shape()));
  check_f32(w_ih, op, "weight_ih");
  check_f32(w_hh, op, "weight_hh");
  for (const Tensor* b : {&b_ih, &b_hh})
    if (b->defined()) {
      SIGNET_CHECK(b->shape() == (Shape{4 * H}), "{}: biases must be [{}], got {}", op, 4 * H,
                   shape_str(b->shape()));
      check_f32(*b, op, "a bias");
    }
  for (const Tensor* s : {&h0, &c0})
    if (s->defined()) {
      SIGNET_CHECK(s->shape() == (Shape{B, H}),
                   "{}: initial states h0 / c0 must be [batch {}, hidden {}], got {}", op, B, H,
                   shape_str(s->shape()));
      check_f32(*s, op, "an initial state");
    }
  return {B, T, D, H};
}

// Time slices [B, 1, ...] of x [B, T, ...], cut by halving. The gradient of a narrow is padded
// to its input's shape, so T narrows of x would cost O(T^2) in backward (and keep T full-size
// gradients alive under create_graph); halving costs O(T log T).
void split_time(const Tensor& x, std::vector<Tensor>& out) {
  const int64_t T = x.size(1);
  if (T == 1) {
    out.push_back(x);
    return;
  }
  split_time(narrow(x, 1, 0, T / 2), out);
  split_time(narrow(x, 1, T / 2, T - T / 2), out);
}

// concat of xs[lo, hi) along time, as a balanced tree for the same reason (the gradient of a
// concat is narrows of its output gradient, whose own gradients pad).
Tensor join_time(const std::vector<Tensor>& xs, size_t lo, size_t hi) {
  if (hi - lo == 1) return xs[lo];
  const size_t mid = lo + (hi - lo) / 2;
  return concat({join_time(xs, lo, mid), join_time(xs, mid, hi)}, 1);
}

// The cell on a device: our gate kernels (kernels/lstm.cuh), the activated gates saved for the
// backward as on the CPU.
LstmCellOut cell_on_device(const Tensor& gates, const Tensor& c_prev, bool record_grad, int64_t B, int64_t H) {
  const Device dev = gates.device();
  Tensor y = Tensor::empty({2, B, H}, DType::F32, dev);
  Tensor act = Tensor::empty({B, 4 * H}, DType::F32, dev);
  cuda::kernels(dev).lstm_cell_forward(gates.device_f32(), c_prev.device_f32(), act.device_f32(), y.device_f32(),
                                       y.device_f32() + B * H, B, H, nullptr);
  if (record_grad) {
    const Tensor c_new = y.detach().narrow_view(0, 1, 1);
    record(y, "lstm_cell_pointwise", {gates, c_prev}, [gates, c_prev, act, c_new, B, H](const Tensor& g) {
      if (grad_mode_enabled()) return cell_backward_composed(gates, c_prev, g);
      const Tensor gg = g.contiguous();
      Tensor d_gates = Tensor::empty({B, 4 * H}, DType::F32, g.device()), d_c = Tensor::empty({B, H}, DType::F32, g.device());
      cuda::kernels(g.device()).lstm_cell_backward(act.device_f32(), c_prev.device_f32(), c_new.device_f32(),
                                                   gg.device_f32(), gg.device_f32() + B * H, d_gates.device_f32(),
                                                   d_c.device_f32(), B, H, nullptr);
      return std::vector<Tensor>{d_gates, d_c};
    });
  }
  return {reshape(narrow(y, 0, 0, 1), {B, H}), reshape(narrow(y, 0, 1, 1), {B, H})};
}

}  // namespace

LstmCellOut lstm_cell_pointwise(const Tensor& gates, const Tensor& c_prev) {
  SIGNET_DISPATCH_CPU_OR_CUDA("lstm_cell_pointwise", {gates, c_prev});
  SIGNET_CHECK(c_prev.dim() == 2, "lstm_cell_pointwise: c_prev must be [batch, hidden], got {}",
               shape_str(c_prev.shape()));
  const int64_t B = c_prev.size(0), H = c_prev.size(1);
  SIGNET_CHECK(gates.shape() == (Shape{B, 4 * H}),
               "lstm_cell_pointwise: gates must be [batch, 4*hidden] = [{}, {}] for c_prev {}, "
               "got {}", B, 4 * H, shape_str(c_prev.shape()), shape_str(gates.shape()));
  check_f32(gates, "lstm_cell_pointwise", "gates");
  check_f32(c_prev, "lstm_cell_pointwise", "c_prev");
  const Tensor gc = gates.contiguous(), cc = c_prev.contiguous();
  const bool record_grad = needs_grad({gates, c_prev});
  if (gates.device().is_cuda()) return cell_on_device(gc, cc, record_grad, B, H);
  Tensor y = Tensor::empty({2, B, H});  // [h; c]: one output per node
  Tensor act = record_grad ? Tensor::empty({B, 4 * H}) : Tensor();  // saved for backward
  cpu_kernel(cpu::lstm_cell_forward_fast, cpu::lstm_cell_forward_ref)(B, H, rows(gc, 4 * H), rows(cc, H), {y.f32(), H},
                              {y.f32() + B * H, H}, {record_grad ? act.f32() : nullptr, 4 * H});
  if (record_grad) {
    const Tensor c_new = y.detach().narrow_view(0, 1, 1);  // no reference cycle through y
    record(y, "lstm_cell_pointwise", {gates, c_prev},
           [gates, c_prev, act, c_new, cc, B, H](const Tensor& g) {
             if (grad_mode_enabled()) return cell_backward_composed(gates, c_prev, g);
             const Tensor gg = g.contiguous();
             Tensor d_gates = Tensor::empty({B, 4 * H}), d_c = Tensor::empty({B, H});
             cpu_kernel(cpu::lstm_cell_backward_fast, cpu::lstm_cell_backward_ref)(B, H, rows(act, 4 * H), rows(cc, H), rows(c_new, H),
                                          {gg.f32(), H}, {gg.f32() + B * H, H},
                                          {d_gates.f32(), 4 * H}, {d_c.f32(), H});
             return std::vector<Tensor>{d_gates, d_c};
           });
  }
  return {reshape(narrow(y, 0, 0, 1), {B, H}), reshape(narrow(y, 0, 1, 1), {B, H})};
}

LstmOut lstm_composed(const Tensor& x, const Tensor& w_ih, const Tensor& w_hh, const Tensor& b_ih,
                      const Tensor& b_hh, const Tensor& h0, const Tensor& c0) {
  profiler::OpScope profile_op("lstm_composed");
  const cpu::LstmDims d = check_lstm("lstm_composed", x, w_ih, w_hh, b_ih, b_hh, h0, c0);
  const int64_t B = d.B, T = d.T, D = d.D, H = d.H;
  std::vector<Tensor> xs, hs;
  split_time(x, xs);
  Tensor h = h0.defined() ? h0 : Tensor::zeros({B, H}, DType::F32, x.device());
  Tensor c = c0.defined() ? c0 : Tensor::zeros({B, H}, DType::F32, x.device());
  for (int64_t t = 0; t < T; ++t) {
    const Tensor gates = linear(reshape(xs[t], {B, D}), w_ih, b_ih) + linear(h, w_hh, b_hh);
    LstmCellOut s = lstm_cell_pointwise(gates, c);
    h = s.h;
    c = s.c;
    hs.push_back(reshape(h, {B, 1, H}));
  }
  return {join_time(hs, 0, T), h, c};
}

LstmOut lstm(const Tensor& x, const Tensor& w_ih, const Tensor& w_hh, const Tensor& b_ih,
             const Tensor& b_hh, const Tensor& h0, const Tensor& c0) {
  profiler::OpScope profile_op("lstm");
  const cpu::LstmDims d = check_lstm("lstm", x, w_ih, w_hh, b_ih, b_hh, h0, c0);
  // On a device: the per-step graph of device ops (cuBLAS GEMMs, our gate kernels); its backward
  // is autograd's through those ops.
  if (x.device().is_cuda() || cpu_reference_kernels()) return lstm_composed(x, w_ih, w_hh, b_ih, b_hh, h0, c0);
  const int64_t B = d.B, T = d.T, H = d.H, BTH = B * T * H;
  const Tensor xc = x.contiguous(), wi = w_ih.contiguous(), wh = w_hh.contiguous();
  const Tensor bi = packed(b_ih), bh = packed(b_hh), h0c = packed(h0), c0c = packed(c0);
  // y = [every h_t (B*T*H) ; c_n (B*H)]: the node's single output; output and c_n view it.
  Tensor y = Tensor::empty({BTH + B * H});
  Tensor cs = Tensor::empty({B, T, H}), act = Tensor::empty({B, T, 4 * H});
  cpu::lstm_seq_forward(d, xc.f32(), wi.f32(), wh.f32(), ptr(bi), ptr(bh), ptr(h0c), ptr(c0c),
                        y.f32(), cs.f32(), act.f32());
  cpu::lstm_last_cells(cs.f32(), B, T, H, y.f32() + BTH);
  const std::vector<Tensor> inputs{x, w_ih, w_hh, b_ih, b_hh, h0, c0};
  if (needs_grad(inputs)) {
    std::vector<bool> want;
    for (const Tensor& t : inputs) want.push_back(t.defined() && t.requires_grad());
    const Tensor hs = y.detach();  // no reference cycle through y
    record(y, "lstm", inputs, [=](const Tensor& g) {
      std::vector<Tensor> out(inputs.size());
      if (grad_mode_enabled()) {  // create_graph: differentiate the composed graph
        const LstmOut r = lstm_composed(x, w_ih, w_hh, b_ih, b_hh, h0, c0);
        const Tensor yd = concat({reshape(r.output, {-1}), reshape(r.c_n, {-1})}, 0);
        std::vector<Tensor> wrt;
        for (size_t i = 0; i < inputs.size(); ++i)
          if (want[i]) wrt.push_back(inputs[i]);
        const std::vector<Tensor> gs = signet::grad(sum(yd * g), wrt, Tensor(), true);
        for (size_t i = 0, k = 0; i < inputs.size(); ++i)
          if (want[i]) out[i] = gs[k++];
        return out;
      }
      const Tensor gg = g.contiguous();
      auto grad_buf = [&](size_t i, const Shape& s) {
        if (want[i]) out[i] = Tensor::empty(s);
        return want[i] ? out[i].f32() : nullptr;
      };
      float* dx = grad_buf(0, x.shape());
      float* dwi = grad_buf(1, w_ih.shape());
      float* dwh = grad_buf(2, w_hh.shape());
      Tensor db = (want[3] || want[4]) ? Tensor::empty({4 * H}) : Tensor();
      float* dh0 = grad_buf(5, {B, H});
      float* dc0 = grad_buf(6, {B, H});
      cpu::lstm_seq_backward(d, xc.f32(), wi.f32(), wh.f32(), ptr(h0c), ptr(c0c),
                             hs.f32(), cs.f32(), act.f32(), gg.f32(), gg.f32() + BTH, dx, dwi,
                             dwh, db.defined() ? db.f32() : nullptr, dh0, dc0);
      if (want[3]) out[3] = db;
      if (want[4]) out[4] = want[3] ? db.clone() : db;  // two leaves must not share a .grad()
      return out;
    });
  }
  const Tensor output = reshape(narrow(y, 0, 0, BTH), {B, T, H});
  return {output, reshape(narrow(output, 1, T - 1, 1), {B, H}),
          reshape(narrow(y, 0, BTH, B * H), {B, H})};
}

double lstm_train_flops(int64_t B, int64_t T, int64_t D, int64_t H) {
  // forward: projection 2*N*D*4H + recurrence 2*N*H*4H; backward twice that for each
  // (dx and dw_ih; dh and dw_hh).
  const double N = static_cast<double>(B) * T, G = 4.0 * H;
  return 6.0 * N * G * (D + H);
}

}  // namespace signet
