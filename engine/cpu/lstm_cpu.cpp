// LSTM CPU kernels: the cell's gate math (plain-loop reference and an Eigen-vectorised fast
// path) and the whole-sequence forward / backpropagation-through-time loops built on them
// and on OpenBLAS GEMMs (cpu::gemm_fast).
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <omp.h>
#include <utility>
#include <vector>

#include "engine/ops/dispatch.h"
#include "engine/ops/lstm.h"
#include "engine/ops/matmul.h"
#include "engine/ops/reduce.h"

namespace signet::cpu {

namespace {
using Arr = Eigen::Map<Eigen::ArrayXf>;
using CArr = Eigen::Map<const Eigen::ArrayXf>;

// The standalone cell kernels split rows over threads only past the engine's usual grain: an
// IMDB step (64 x 100 units) takes about 16 us on one core, less than a parallel region
// costs on a busy 2-core machine. (The sequence kernels split the batch once, see below.)
constexpr int64_t kCellGrain = kParallelGrain;

inline float sigmoid_ref(float x) { return 1.0f / (1.0f + std::exp(-x)); }

// Null rows read as zeros: point them at a zero row with stride 0.
Rows or_zeros(Rows r, const std::vector<float>& zeros) {
  return r.p ? r : Rows{zeros.data(), 0};
}
}  // namespace

void lstm_cell_forward_ref(int64_t B, int64_t H, Rows gates, Rows c_prev, MutRows h, MutRows c,
                           MutRows act) {
  for (int64_t b = 0; b < B; ++b) {
    const float* a = gates.p + b * gates.ld;
    for (int64_t j = 0; j < H; ++j) {
      const float i = sigmoid_ref(a[j]);
      const float f = sigmoid_ref(a[H + j]);
      const float g = std::tanh(a[2 * H + j]);
      const float o = sigmoid_ref(a[3 * H + j]);
      const float cp = c_prev.p ? c_prev.p[b * c_prev.ld + j] : 0.0f;
      const float cn = f * cp + i * g;
      c.p[b * c.ld + j] = cn;
      h.p[b * h.ld + j] = o * std::tanh(cn);
      if (act.p) {
        float* s = act.p + b * act.ld;
        s[j] = i, s[H + j] = f, s[2 * H + j] = g, s[3 * H + j] = o;
      }
    }
  }
}

namespace {
// Rows [b0, b1) of the fast forward, on the calling thread. scratch: 4H floats when act.p is
// null. bias (4H, or null) is added to the gates first: the sequence kernel fuses the LSTM's
// biases here instead of writing them into every row before the projection GEMM.
void cell_forward_rows(int64_t b0, int64_t b1, int64_t H, Rows gates, Rows c_prev, MutRows h,
                       MutRows c, MutRows act, float* scratch, const float* bias = nullptr) {
  for (int64_t b = b0; b < b1; ++b) {
    const float* g = gates.p + b * gates.ld;
    float* s = act.p ? act.p + b * act.ld : scratch;
    // Activate in place when act aliases gates: each element is read before it is written.
    Arr ai(s, H), af(s + H, H), ag(s + 2 * H, H), ao(s + 3 * H, H);
    if (bias) {
      ai = (CArr(g, H) + CArr(bias, H)).logistic();
      af = (CArr(g + H, H) + CArr(bias + H, H)).logistic();
      ag = (CArr(g + 2 * H, H) + CArr(bias + 2 * H, H)).tanh();
      ao = (CArr(g + 3 * H, H) + CArr(bias + 3 * H, H)).logistic();
    } else {
      ai = CArr(g, H).logistic();
      af = CArr(g + H, H).logistic();
      ag = CArr(g + 2 * H, H).tanh();
      ao = CArr(g + 3 * H, H).logistic();
    }
    Arr cn(c.p + b * c.ld, H);
    cn = af * CArr(c_prev.p + b * c_prev.ld, H) + ai * ag;
    Arr(h.p + b * h.ld, H) = ao * cn.tanh();
  }
}

// Rows [b0, b1) of the fast backward; dc and tc are H floats of scratch. No null rows here.
void cell_backward_rows(int64_t b0, int64_t b1, int64_t H, Rows act, Rows c_prev, Rows c,
                        Rows gh, Rows gc, MutRows d_gates, MutRows d_cprev, float* dc_buf,
                        float* tc_buf) {
  Arr dc(dc_buf, H), tc(tc_buf, H);
  for (int64_t b = b0; b < b1; ++b) {
    const float* s = act.p + b * act.ld;
    CArr ai(s, H), af(s + H, H), ag(s + 2 * H, H), ao(s + 3 * H, H);
    CArr cp(c_prev.p + b * c_prev.ld, H), dh(gh.p + b * gh.ld, H);
    tc = CArr(c.p + b * c.ld, H).tanh();
    // dc is complete before d_cprev (which may alias gc) is written.
    dc = CArr(gc.p + b * gc.ld, H) + dh * ao * (1.0f - tc.square());
    float* d = d_gates.p + b * d_gates.ld;
    Arr(d, H) = dc * ag * ai * (1.0f - ai);
    Arr(d + H, H) = dc * cp * af * (1.0f - af);
    Arr(d + 2 * H, H) = dc * ai * (1.0f - ag.square());
    Arr(d + 3 * H, H) = dh * tc * ao * (1.0f - ao);
    if (d_cprev.p) Arr(d_cprev.p + b * d_cprev.ld, H) = dc * af;
  }
}

// The share of rows [0, n) of thread t out of nt.
std::pair<int64_t, int64_t> chunk(int64_t n, int nt, int t) {
  const int64_t per = n / nt, extra = n % nt;
  const int64_t b0 = t * per + std::min<int64_t>(t, extra);
  return {b0, b0 + per + (t < extra ? 1 : 0)};
}
}  // namespace

void lstm_cell_forward_fast(int64_t B, int64_t H, Rows gates, Rows c_prev, MutRows h,
                            MutRows c, MutRows act) {
  const std::vector<float> zeros(c_prev.p ? 0 : H, 0.0f);
  c_prev = or_zeros(c_prev, zeros);
#pragma omp parallel if (B * H >= kCellGrain)
  {
    std::vector<float> scratch(act.p ? 0 : 4 * H);
    const auto [b0, b1] = chunk(B, omp_get_num_threads(), omp_get_thread_num());
    cell_forward_rows(b0, b1, H, gates, c_prev, h, c, act, scratch.data());
  }
}

void lstm_cell_backward_ref(int64_t B, int64_t H, Rows act, Rows c_prev, Rows c, Rows gh,
                            Rows gc, MutRows d_gates, MutRows d_cprev) {
  for (int64_t b = 0; b < B; ++b) {
    const float* s = act.p + b * act.ld;
    float* d = d_gates.p + b * d_gates.ld;
    for (int64_t j = 0; j < H; ++j) {
      const float i = s[j], f = s[H + j], g = s[2 * H + j], o = s[3 * H + j];
      const float cp = c_prev.p ? c_prev.p[b * c_prev.ld + j] : 0.0f;
      const float tc = std::tanh(c.p[b * c.ld + j]);
      const float dh = gh.p ? gh.p[b * gh.ld + j] : 0.0f;
      const float dc = (gc.p ? gc.p[b * gc.ld + j] : 0.0f) + dh * o * (1.0f - tc * tc);
      d[j] = dc * g * i * (1.0f - i);
      d[H + j] = dc * cp * f * (1.0f - f);
      d[2 * H + j] = dc * i * (1.0f - g * g);
      d[3 * H + j] = dh * tc * o * (1.0f - o);
      if (d_cprev.p) d_cprev.p[b * d_cprev.ld + j] = dc * f;
    }
  }
}

void lstm_cell_backward_fast(int64_t B, int64_t H, Rows act, Rows c_prev, Rows c, Rows gh,
                             Rows gc, MutRows d_gates, MutRows d_cprev) {
  const std::vector<float> zeros((c_prev.p && gh.p && gc.p) ? 0 : H, 0.0f);
  c_prev = or_zeros(c_prev, zeros);
  gh = or_zeros(gh, zeros);
  gc = or_zeros(gc, zeros);
#pragma omp parallel if (B * H >= kCellGrain)
  {
    std::vector<float> buf(2 * H);
    const auto [b0, b1] = chunk(B, omp_get_num_threads(), omp_get_thread_num());
    cell_backward_rows(b0, b1, H, act, c_prev, c, gh, gc, d_gates, d_cprev, buf.data(),
                       buf.data() + H);
  }
}

namespace {
// Below this many GEMM flops a sequence stays on one thread (unit-test sizes).
constexpr double kSeqGrain = 1 << 20;

// Runs f(b0, b1) on each thread's share of the batch. Batch rows are independent through
// time, so one parallel region covers the whole sequence: the threads meet only at its end,
// never per step (a per-step barrier costs milliseconds on a loaded 2-core machine). Inside
// the region OpenBLAS runs each GEMM on the calling thread.
template <class F>
void over_batch(int64_t B, double flops, F&& f) {
  if (B < 2 || flops < kSeqGrain || omp_get_max_threads() < 2) {
    f(int64_t{0}, B);
    return;
  }
#pragma omp parallel
  {
    const auto [b0, b1] = chunk(B, omp_get_num_threads(), omp_get_thread_num());
    if (b1 > b0) f(b0, b1);
  }
}
}  // namespace

void lstm_seq_forward(LstmDims d, const float* x, const float* w_ih, const float* w_hh,
                      const float* b_ih, const float* b_hh, const float* h0, const float* c0,
                      float* out_h, float* out_c, float* act) {
  const int64_t T = d.T, D = d.D, H = d.H, G = 4 * H;
  const int64_t ldA = T * G, ldS = T * H;  // per-batch-row strides of act and out_h / out_c
  std::vector<float> bias(G, 0.0f);  // b_ih + b_hh, added by the cell kernel
  for (int64_t j = 0; j < G; ++j) bias[j] = (b_ih ? b_ih[j] : 0.0f) + (b_hh ? b_hh[j] : 0.0f);
  const float* pb = (b_ih || b_hh) ? bias.data() : nullptr;
  const std::vector<float> zeros(H, 0.0f);
  over_batch(d.B, 2.0 * d.B * T * G * (D + H), [&](int64_t b0, int64_t b1) {
    const int64_t nb = b1 - b0;
    float* A = act + b0 * ldA;
    float* oh = out_h + b0 * ldS;
    float* oc = out_c + b0 * ldS;
    // The input projection of every step is one GEMM.
    gemm_fast(false, true, nb * T, G, D, 1.0f, x + b0 * T * D, D, w_ih, D, 0.0f, A, G);
    for (int64_t t = 0; t < T; ++t) {
      // Step t's gates are A[b, t, :]; h_{t-1} is oh[b, t-1, :] (h0 or nothing at t = 0).
      float* gt = A + t * G;
      const Rows hp = t > 0 ? Rows{oh + (t - 1) * H, ldS} : Rows{h0 ? h0 + b0 * H : nullptr, H};
      const Rows cp = t > 0 ? Rows{oc + (t - 1) * H, ldS}
                            : (c0 ? Rows{c0 + b0 * H, H} : Rows{zeros.data(), 0});
      if (hp.p) gemm_fast(false, true, nb, G, H, 1.0f, hp.p, hp.ld, w_hh, H, 1.0f, gt, ldA);
      cell_forward_rows(0, nb, H, {gt, ldA}, cp, {oh + t * H, ldS}, {oc + t * H, ldS},
                        {gt, ldA}, nullptr, pb);
    }
  });
}

void lstm_seq_backward(LstmDims d, const float* x, const float* w_ih, const float* w_hh,
                       const float* h0, const float* c0, const float* out_h, const float* out_c,
                       const float* act, const float* g_out, const float* g_cn, float* dx,
                       float* dw_ih, float* dw_hh, float* db, float* dh0, float* dc0) {
  const int64_t B = d.B, T = d.T, D = d.D, H = d.H, G = 4 * H, N = B * T;
  const int64_t ldA = T * G, ldS = T * H;
  // dG [B, T, 4H]: the gradient of every step's pre-activation gates, laid out like act.
  Tensor dG_t = Tensor::empty({N, G});
  float* dG = dG_t.f32();
  const std::vector<float> zeros(H, 0.0f);
  const bool want_initial = dh0 || dc0;
  over_batch(B, 2.0 * B * T * G * (D + H), [&](int64_t b0, int64_t b1) {
    const int64_t nb = b1 - b0;
    const float* A = act + b0 * ldA;
    const float* oc = out_c + b0 * ldS;
    const float* go = g_out + b0 * ldS;
    float* dGb = dG + b0 * ldA;
    std::vector<float> dh(nb * H, 0.0f), dc(nb * H, 0.0f), buf(2 * H);
    if (g_cn) std::copy(g_cn + b0 * H, g_cn + b1 * H, dc.begin());
    for (int64_t t = T - 1; t >= 0; --t) {
      // dh = d output[:, t] + (the gradient through h_t's use at step t+1, already in dh).
      for (int64_t b = 0; b < nb; ++b) {
        const float* g = go + b * ldS + t * H;
        float* o = dh.data() + b * H;
#pragma omp simd
        for (int64_t j = 0; j < H; ++j) o[j] += g[j];
      }
      const Rows cp = t > 0 ? Rows{oc + (t - 1) * H, ldS}
                            : (c0 ? Rows{c0 + b0 * H, H} : Rows{zeros.data(), 0});
      const bool prev = t > 0 || want_initial;
      cell_backward_rows(0, nb, H, {A + t * G, ldA}, cp, {oc + t * H, ldS}, {dh.data(), H},
                         {dc.data(), H}, {dGb + t * G, ldA},
                         prev ? MutRows{dc.data(), H} : MutRows{}, buf.data(), buf.data() + H);
      if (prev)
        gemm_fast(false, false, nb, H, G, 1.0f, dGb + t * G, ldA, w_hh, H, 0.0f, dh.data(), H);
    }
    if (dh0) std::copy(dh.begin(), dh.end(), dh0 + b0 * H);
    if (dc0) std::copy(dc.begin(), dc.end(), dc0 + b0 * H);
    if (dx) gemm_fast(false, false, nb * T, D, G, 1.0f, dGb, G, w_ih, D, 0.0f, dx + b0 * T * D, D);
  });
  // The weight gradients sum over the whole batch: large GEMMs on all threads.
  if (dw_ih) gemm_fast(true, false, G, D, N, 1.0f, dG, G, x, D, 0.0f, dw_ih, D);
  if (dw_hh) {
    // H_prev[b, t] = h_{t-1} (h0 or zeros at t = 0): d w_hh = dG^T H_prev in one GEMM.
    Tensor hp_t = Tensor::empty({N, H});
    float* hp = hp_t.f32();
#pragma omp parallel for schedule(static) if (N * H >= kParallelGrain)
    for (int64_t b = 0; b < B; ++b) {
      float* row0 = hp + b * ldS;
      if (h0) std::memcpy(row0, h0 + b * H, H * sizeof(float));
      else std::fill(row0, row0 + H, 0.0f);
      std::memcpy(row0 + H, out_h + b * ldS, (T - 1) * H * sizeof(float));
    }
    gemm_fast(true, false, G, H, N, 1.0f, dG, G, hp, H, 0.0f, dw_hh, H);
  }
  if (db) sum_middle_fast(dG, db, 1, N, G);
}

void lstm_last_cells(const float* cs, int64_t B, int64_t T, int64_t H, float* c_n) {
  for (int64_t b = 0; b < B; ++b) std::copy_n(cs + (b * T + T - 1) * H, H, c_n + b * H);
}

}  // namespace signet::cpu
