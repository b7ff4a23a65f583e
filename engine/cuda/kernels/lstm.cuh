// The LSTM cell's gate math (engine/ops/lstm.h), one thread per (row, unit). gates is [B, 4H]
// of pre-activations [a_i | a_f | a_g | a_o]; the forward also writes the activated gates
// (act, [B, 4H]) that the backward reads, as the CPU kernel saves them.
#pragma once
#include "engine/cuda/kernels/common.cuh"

namespace signet::cuda_kernels {

SIGNET_DEVICE float sigmoidf_(float x) { return 1.0f / (1.0f + expf(-x)); }

// act = activated gates; c = f c_prev + i g; h = o tanh(c). c_prev may be null (zeros).
SIGNET_KERNEL lstm_cell_forward_kernel(const float* __restrict__ gates, const float* __restrict__ c_prev,
                                       float* __restrict__ act, float* __restrict__ h, float* __restrict__ c,
                                       int64_t B, int64_t H) {
  const int64_t total = B * H;
  for (int64_t j = global_index(); j < total; j += global_stride()) {
    const int64_t b = j / H, u = j % H;
    const float* a = gates + b * 4 * H;
    const float i = sigmoidf_(a[u]), f = sigmoidf_(a[H + u]), g = tanhf(a[2 * H + u]), o = sigmoidf_(a[3 * H + u]);
    float* s = act + b * 4 * H;
    s[u] = i;
    s[H + u] = f;
    s[2 * H + u] = g;
    s[3 * H + u] = o;
    const float cv = f * (c_prev ? c_prev[j] : 0.0f) + i * g;
    c[j] = cv;
    h[j] = o * tanhf(cv);
  }
}

// From the incoming gh, gc (either may be null: zeros): d gates [B, 4H] and d c_prev [B, H].
SIGNET_KERNEL lstm_cell_backward_kernel(const float* __restrict__ act, const float* __restrict__ c_prev,
                                        const float* __restrict__ c, const float* __restrict__ gh,
                                        const float* __restrict__ gc, float* __restrict__ dgates,
                                        float* __restrict__ dc_prev, int64_t B, int64_t H) {
  const int64_t total = B * H;
  for (int64_t j = global_index(); j < total; j += global_stride()) {
    const int64_t b = j / H, u = j % H;
    const float* s = act + b * 4 * H;
    const float i = s[u], f = s[H + u], g = s[2 * H + u], o = s[3 * H + u];
    const float tc = tanhf(c[j]), cp = c_prev ? c_prev[j] : 0.0f;
    const float dh = gh ? gh[j] : 0.0f;
    const float dc = (gc ? gc[j] : 0.0f) + dh * o * (1.0f - tc * tc);
    float* d = dgates + b * 4 * H;
    d[u] = dc * g * i * (1.0f - i);
    d[H + u] = dc * cp * f * (1.0f - f);
    d[2 * H + u] = dc * i * (1.0f - g * g);
    d[3 * H + u] = dh * tc * o * (1.0f - o);
    if (dc_prev) dc_prev[j] = dc * f;
  }
}

}  // namespace signet::cuda_kernels
