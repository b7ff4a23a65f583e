// CPU kernels for batch_norm. x is viewed as [N, C, S]: channel c owns the N runs
// x[n, c, 0..S). The references accumulate in double one element at a time; the fast paths
// reduce each contiguous run with a vectorised float sum (added into a double per channel)
// and run channels (statistics) or rows (elementwise passes) in parallel.
#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "engine/ops/batchnorm.h"
#include "engine/ops/dispatch.h"

namespace signet::cpu {

// ---------------------------------------------------------------- references
void batch_norm_stats_ref(const float* x, int64_t N, int64_t C, int64_t S, float* mean, float* var) {
  const double m = static_cast<double>(N * S);
  for (int64_t c = 0; c < C; ++c) {
    double s = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < S; ++i) s += x[(n * C + c) * S + i];
    const double mu = s / m;
    double q = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < S; ++i) {
        const double d = x[(n * C + c) * S + i] - mu;
        q += d * d;
      }
    mean[c] = static_cast<float>(mu);
    var[c] = static_cast<float>(q / m);  // biased
  }
}

void batch_norm_apply_ref(const float* x, int64_t N, int64_t C, int64_t S, const float* scale,
                          const float* shift, float* y, bool relu) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < S; ++i) {
        const int64_t k = (n * C + c) * S + i;
        const float v = x[k] * scale[c] + shift[c];
        y[k] = relu && !(v > 0) ? 0.0f : v;
      }
}

void batch_norm_backward_ref(const float* g, const float* x, int64_t N, int64_t C, int64_t S,
                             const float* mean, const float* invstd, const float* weight, bool training,
                             float* dx, float* dweight, float* dbias, const float* relu_scale,
                             const float* relu_shift) {
  const double m = static_cast<double>(N * S);
  // The gradient reaching the normalisation: g, or g where the fused ReLU passed its input.
  auto grad_at = [&](int64_t k, int64_t c) {
    return relu_scale && !(x[k] * relu_scale[c] + relu_shift[c] > 0) ? 0.0f : g[k];
  };
  for (int64_t c = 0; c < C; ++c) {
    double sg = 0, sgx = 0;  // sum g, sum g * xhat
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < S; ++i) {
        const int64_t k = (n * C + c) * S + i;
        sg += grad_at(k, c);
        sgx += static_cast<double>(grad_at(k, c)) * (x[k] - mean[c]) * invstd[c];
      }
    if (dbias) dbias[c] = static_cast<float>(sg);
    if (dweight) dweight[c] = static_cast<float>(sgx);
    if (!dx) continue;
    const double w = weight ? weight[c] : 1.0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < S; ++i) {
        const int64_t k = (n * C + c) * S + i;
        const double xhat = (x[k] - mean[c]) * static_cast<double>(invstd[c]);
        dx[k] = static_cast<float>(training ? w * invstd[c] * (grad_at(k, c) - sg / m - xhat * sgx / m)
                                            : w * invstd[c] * grad_at(k, c));
      }
  }
}

// ---------------------------------------------------------------- fast paths
namespace {
inline bool big(int64_t n) { return n >= kParallelGrain; }

// Per-channel sums of f(run, c) over the N runs of each channel, in double. S == 1 (BatchNorm1d
// input [N, C]) walks rows instead, so that memory is read in order.
// The same for two sums at once: run_sum returns both as a pair.
template <class RunSum>
void channel_sums2(int64_t N, int64_t C, int64_t S, double* out1, double* out2, RunSum&& run_sum) {
  if (S == 1) {
    std::fill(out1, out1 + C, 0.0);
    std::fill(out2, out2 + C, 0.0);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = 0; c < C; ++c) {
        const auto [a, b] = run_sum(n * C + c, c, int64_t{1});
        out1[c] += a;
        out2[c] += b;
      }
    return;
  }
#pragma omp parallel for if (big(N * C * S) && C > 1) schedule(static)
  for (int64_t c = 0; c < C; ++c) {
    double a = 0, b = 0;
    for (int64_t n = 0; n < N; ++n) {
      const auto [ra, rb] = run_sum((n * C + c) * S, c, S);
      a += ra;
      b += rb;
    }
    out1[c] = a;
    out2[c] = b;
  }
}

template <class RunSum>
void channel_sums(int64_t N, int64_t C, int64_t S, double* out, RunSum&& run_sum) {
  if (S == 1) {
    std::fill(out, out + C, 0.0);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = 0; c < C; ++c) out[c] += run_sum(n * C + c, c, int64_t{1});
    return;
  }
#pragma omp parallel for if (big(N * C * S) && C > 1) schedule(static)
  for (int64_t c = 0; c < C; ++c) {
    double acc = 0;
    for (int64_t n = 0; n < N; ++n) acc += run_sum((n * C + c) * S, c, S);
    out[c] = acc;
  }
}
}  // namespace

void batch_norm_stats_fast(const float* x, int64_t N, int64_t C, int64_t S, float* mean, float* var) {
  std::vector<double> s(C), q(C), mu(C);
  const double m = static_cast<double>(N * S);
  channel_sums(N, C, S, s.data(), [&](int64_t off, int64_t, int64_t len) {
    const float* p = x + off;
    float a = 0;
#pragma omp simd reduction(+ : a)
    for (int64_t i = 0; i < len; ++i) a += p[i];
    return static_cast<double>(a);
  });
  for (int64_t c = 0; c < C; ++c) mu[c] = s[c] / m;
  channel_sums(N, C, S, q.data(), [&](int64_t off, int64_t c, int64_t len) {
    const float* p = x + off;
    const float mc = static_cast<float>(mu[c]);
    float a = 0;
#pragma omp simd reduction(+ : a)
    for (int64_t i = 0; i < len; ++i) a += (p[i] - mc) * (p[i] - mc);
    return static_cast<double>(a);
  });
  for (int64_t c = 0; c < C; ++c) {
    mean[c] = static_cast<float>(mu[c]);
    var[c] = static_cast<float>(q[c] / m);
  }
}

void batch_norm_apply_fast(const float* x, int64_t N, int64_t C, int64_t S, const float* scale,
                           const float* shift, float* y, bool relu) {
#pragma omp parallel for collapse(2) if (big(N * C * S)) schedule(static)
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      const float* p = x + (n * C + c) * S;
      float* q = y + (n * C + c) * S;
      const float a = scale[c], b = shift[c];
      if (relu) {
#pragma omp simd
        for (int64_t i = 0; i < S; ++i) {
          const float v = p[i] * a + b;
          q[i] = v > 0 ? v : 0.0f;
        }
      } else {
#pragma omp simd
        for (int64_t i = 0; i < S; ++i) q[i] = p[i] * a + b;
      }
    }
}

void batch_norm_backward_fast(const float* g, const float* x, int64_t N, int64_t C, int64_t S,
                              const float* mean, const float* invstd, const float* weight, bool training,
                              float* dx, float* dweight, float* dbias, const float* relu_scale,
                              const float* relu_shift) {
  std::vector<double> sg(C), sgx(C);
  const double m = static_cast<double>(N * S);
  // With the fused ReLU, the masked gradient is written once (into dx, which the last pass then
  // overwrites in place, or a scratch buffer) while the sums read it.
  std::vector<float> scratch;
  float* gm = nullptr;
  if (relu_scale) {
    if (!dx) scratch.resize(static_cast<size_t>(N * C * S));
    gm = dx ? dx : scratch.data();
  }
  // sum g and sum g (x - mean) in one pass (the second scaled by invstd below).
  if (dbias || dweight || (dx && training) || gm)
    channel_sums2(N, C, S, sg.data(), sgx.data(), [&](int64_t off, int64_t c, int64_t len) {
      const float* pg = g + off;
      const float* px = x + off;
      const float mc = mean[c];
      float a = 0, b = 0;
      if (gm) {
        float* pm = gm + off;
        const float rs = relu_scale[c], rb = relu_shift[c];
#pragma omp simd reduction(+ : a, b)
        for (int64_t i = 0; i < len; ++i) {
          const float v = px[i] * rs + rb;
          const float gi = v > 0 ? pg[i] : 0.0f;
          pm[i] = gi;
          a += gi;
          b += gi * (px[i] - mc);
        }
      } else {
#pragma omp simd reduction(+ : a, b)
        for (int64_t i = 0; i < len; ++i) {
          a += pg[i];
          b += pg[i] * (px[i] - mc);
        }
      }
      return std::pair<double, double>(a, b);
    });
  if (gm) g = gm;
  for (int64_t c = 0; c < C; ++c) {
    sgx[c] *= invstd[c];
    if (dbias) dbias[c] = static_cast<float>(sg[c]);
    if (dweight) dweight[c] = static_cast<float>(sgx[c]);
  }
  if (!dx) return;
  // dx = k1 g + k2 (x - mean) + k0 per channel, with
  // k1 = w invstd, k2 = -w invstd^2 sum(g xhat) / m, k0 = -w invstd sum(g) / m (training).
  std::vector<float> k1(C), k2(C), k0(C);
  for (int64_t c = 0; c < C; ++c) {
    const double wi = (weight ? weight[c] : 1.0) * invstd[c];
    k1[c] = static_cast<float>(wi);
    k2[c] = training ? static_cast<float>(-wi * invstd[c] * sgx[c] / m) : 0.0f;
    k0[c] = training ? static_cast<float>(-wi * sg[c] / m) : 0.0f;
  }
#pragma omp parallel for collapse(2) if (big(N * C * S)) schedule(static)
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      const int64_t off = (n * C + c) * S;
      const float a = k1[c], b = k2[c], z = k0[c], mc = mean[c];
      const float* pg = g + off;
      const float* px = x + off;
      float* pd = dx + off;
#pragma omp simd
      for (int64_t i = 0; i < S; ++i) pd[i] = a * pg[i] + b * (px[i] - mc) + z;
    }
}

void batch_norm_channel(const float* mean, const float* var, const float* weight, const float* bias, double eps,
                        int64_t C, float* invstd, float* scale, float* shift) {
  for (int64_t c = 0; c < C; ++c) {
    invstd[c] = static_cast<float>(1.0 / std::sqrt(static_cast<double>(var[c]) + eps));
    scale[c] = (weight ? weight[c] : 1.0f) * invstd[c];
    shift[c] = (bias ? bias[c] : 0.0f) - mean[c] * scale[c];
  }
}

void batch_norm_running_update(float* running_mean, float* running_var, const float* mean, const float* var,
                               double momentum, double unbias, int64_t C) {
  for (int64_t c = 0; c < C; ++c) {
    running_mean[c] = static_cast<float>((1 - momentum) * running_mean[c] + momentum * mean[c]);
    running_var[c] = static_cast<float>((1 - momentum) * running_var[c] + momentum * var[c] * unbias);
  }
}

}  // namespace signet::cpu
