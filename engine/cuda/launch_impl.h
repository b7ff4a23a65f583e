// The launch logic of our kernels, once, over a Launcher that knows how to start a kernel:
// engine/cuda/launch.cu instantiates it with CUDA's <<<>>>, the tests (tests/cuda_sim/) with the
// CPU SIMT harness, so the emulated device runs exactly the launches the GPU runs.
// Include only where the kernel sources compile (nvcc, or -DSIGNET_CUDA_SIM).
#pragma once
#include "engine/cuda/kernels/batchnorm.cuh"
#include "engine/cuda/kernels/density.cuh"
#include "engine/cuda/kernels/elementwise.cuh"
#include "engine/cuda/kernels/embedding.cuh"
#include "engine/cuda/kernels/index.cuh"
#include "engine/cuda/kernels/lstm.cuh"
#include "engine/cuda/kernels/optim.cuh"
#include "engine/cuda/kernels/pool.cuh"
#include "engine/cuda/kernels/random.cuh"
#include "engine/cuda/kernels/reduce.cuh"
#include "engine/cuda/kernels/softmax.cuh"
#include "engine/cuda/kernel_table.h"
#include "engine/error.h"

namespace signet::cuda {

// L::launch(kernel, LaunchShape, Stream, args...) starts one kernel and checks the launch.
template <class L>
struct Launches {
  using LS = cuda_kernels::LaunchShape;
  static LS items(int64_t n) { return cuda_kernels::elementwise_shape(n); }
  static LS rows(int64_t n) { return cuda_kernels::row_shape(n); }
  // CUDA refuses an empty grid: nothing to do for zero items.
  template <class K, class... A>
  static void run(K kernel, int64_t count, LS shape, Stream s, A... args) {
    if (count > 0) L::launch(kernel, shape, s, args...);
  }

  static void fill_f32(float* y, float v, int64_t n, Stream s) { run(cuda_kernels::fill_f32_kernel, n, items(n), s, y, v, n); }
  static void fill_i64(int64_t* y, int64_t v, int64_t n, Stream s) {
    run(cuda_kernels::fill_i64_kernel, n, items(n), s, y, v, n);
  }
  static int64_t count(const BroadcastShape& shape) {
    int64_t n = 1;
    for (int d = 0; d < shape.ndim; ++d) n *= shape.sizes[d];
    return n;
  }
  template <class T>
  using CopyKernel = void (*)(const T*, T*, BroadcastShape, int64_t);  // one instance of the template kernel
  template <class T>
  static void strided_copy(const T* src, T* dst, const BroadcastShape& shape, Stream s) {
    const int64_t n = count(shape);
    run(CopyKernel<T>(&cuda_kernels::strided_copy_kernel<T>), n, items(n), s, src, dst, shape, n);
  }
  static void strided_copy_f32(const float* src, float* dst, const BroadcastShape& shape, Stream s) {
    strided_copy(src, dst, shape, s);
  }
  static void strided_copy_i64(const int64_t* src, int64_t* dst, const BroadcastShape& shape, Stream s) {
    strided_copy(src, dst, shape, s);
  }
  static void unary(Unary op, const float* x, float* y, int64_t n, Stream s) {
    run(cuda_kernels::unary_kernel, n, items(n), s, op, x, y, n);
  }
  static void relu_grad(const float* g, const float* x, float* out, int64_t n, Stream s) {
    run(cuda_kernels::relu_grad_kernel, n, items(n), s, g, x, out, n);
  }
  static void affine(const float* x, float* y, float a, float b, int64_t n, Stream s) {
    run(cuda_kernels::affine_kernel, n, items(n), s, x, y, a, b, n);
  }
  static void binary_same(Binary op, const float* a, const float* b, float* out, int64_t n, Stream s) {
    run(cuda_kernels::binary_same_kernel, n, items(n), s, op, a, b, out, n);
  }
  static void binary_broadcast(Binary op, const float* a, const float* b, float* out, const BroadcastShape& shape,
                               Stream s) {
    int64_t n = 1;
    for (int d = 0; d < shape.ndim; ++d) n *= shape.sizes[d];
    run(cuda_kernels::binary_broadcast_kernel, n, items(n), s, op, a, b, out, shape, n);
  }
  static void sum_middle(const float* x, float* out, int64_t outer, int64_t n, int64_t inner, Stream s) {
    if (inner == 1)
      run(cuda_kernels::sum_rows_kernel, outer, rows(outer), s, x, out, outer, n);
    else
      run(cuda_kernels::sum_columns_kernel, outer * inner, items(outer * inner), s, x, out, outer, n, inner);
  }
  static void softmax(const float* x, float* y, int64_t outer, int64_t n, int64_t inner, bool log, Stream s) {
    if (inner == 1)
      run(cuda_kernels::softmax_rows_kernel, outer, rows(outer), s, x, y, outer, n, log);
    else
      run(cuda_kernels::softmax_columns_kernel, outer * inner, items(outer * inner), s, x, y, outer, n, inner, log);
  }
  static void cross_entropy(const float* x, const int64_t* target, float* loss, float* grad, float scale, int64_t N,
                            int64_t C, unsigned long long* bad_row, Stream s) {
    run(cuda_kernels::cross_entropy_kernel, N, rows(N), s, x, target, loss, grad, scale, N, C, bad_row);
  }
  static void bce_with_logits(const float* x, const float* t, float* loss, float* gx, float* gt, float scale,
                              int64_t n, Stream s) {
    run(cuda_kernels::bce_with_logits_kernel, n, items(n), s, x, t, loss, gx, gt, scale, n);
  }
  static void sgd_step(float* p, const float* g, float* buf, float lr, float momentum, float dampening,
                       float weight_decay, bool nesterov, bool first, int64_t n, Stream s) {
    run(cuda_kernels::sgd_kernel, n, items(n), s, p, g, buf, lr, momentum, dampening, weight_decay, nesterov, first, n);
  }
  static void adam_step(float* p, const float* g, float* m, float* v, float lr, float beta1, float beta2, float eps,
                        float weight_decay, bool decoupled, float step_size, float sqrt_bc2, int64_t n, Stream s) {
    run(cuda_kernels::adam_kernel, n, items(n), s, p, g, m, v, lr, beta1, beta2, eps, weight_decay, decoupled,
        step_size, sqrt_bc2, n);
  }
  static void dropout_mask(float* mask, uint64_t seed, uint64_t offset, float keep, int64_t n, Stream s) {
    run(cuda_kernels::dropout_mask_kernel, n, items(n), s, mask, seed, offset, keep, n);
  }
  static void embedding_gather(const float* weight, const int64_t* ids, float* out, int64_t P, int64_t D, int64_t V,
                               unsigned long long* bad_pos, Stream s) {
    run(cuda_kernels::embedding_gather_kernel, P * D, items(P * D), s, weight, ids, out, P, D, V, bad_pos);
  }
  static void embedding_scatter_add(const float* grad_out, const int64_t* ids, float* grad_weight, int64_t P,
                                    int64_t D, int64_t V, Stream s) {
    run(cuda_kernels::embedding_scatter_add_kernel, P * D, items(P * D), s, grad_out, ids, grad_weight, P, D, V);
  }
  static void lstm_cell_forward(const float* gates, const float* c_prev, float* act, float* h, float* c, int64_t B,
                                int64_t H, Stream s) {
    run(cuda_kernels::lstm_cell_forward_kernel, B * H, items(B * H), s, gates, c_prev, act, h, c, B, H);
  }
  static void lstm_cell_backward(const float* act, const float* c_prev, const float* c, const float* gh,
                                 const float* gc, float* dgates, float* dc_prev, int64_t B, int64_t H, Stream s) {
    run(cuda_kernels::lstm_cell_backward_kernel, B * H, items(B * H), s, act, c_prev, c, gh, gc, dgates, dc_prev, B, H);
  }
  static int64_t outputs(const PoolShape& g) { return g.N * g.C * g.Ho * g.Wo; }
  static void max_pool2d(const float* x, float* y, int64_t* idx, const PoolShape& g, Stream s) {
    run(cuda_kernels::max_pool2d_kernel, outputs(g), items(outputs(g)), s, x, y, idx, g);
  }
  static void max_pool2d_backward(const float* dy, const int64_t* idx, float* dx, const PoolShape& g, Stream s) {
    fill_f32(dx, 0.0f, g.N * g.C * g.H * g.W, s);
    run(cuda_kernels::max_pool2d_backward_kernel, outputs(g), items(outputs(g)), s, dy, idx, dx, g);
  }
  static void max_pool2d_gather(const float* G, const int64_t* idx, float* y, const PoolShape& g, Stream s) {
    run(cuda_kernels::max_pool2d_gather_kernel, outputs(g), items(outputs(g)), s, G, idx, y, g);
  }
  static void avg_pool2d(const float* x, float* y, const PoolShape& g, Stream s) {
    run(cuda_kernels::avg_pool2d_kernel, outputs(g), items(outputs(g)), s, x, y, g);
  }
  static void avg_pool2d_backward(const float* dy, float* dx, const PoolShape& g, Stream s) {
    const int64_t n = g.N * g.C * g.H * g.W;
    run(cuda_kernels::avg_pool2d_backward_kernel, n, items(n), s, dy, dx, g);
  }
  static void index_check(const int64_t* v, int64_t count, int64_t n, unsigned long long* flag, Stream s) {
    run(cuda_kernels::index_check_kernel, count, items(count), s, v, count, n, flag);
  }
  static void index_select(const float* src, float* dst, const int64_t* idx, int64_t outer, int64_t n, int64_t K,
                           int64_t inner, Stream s) {
    const int64_t t = outer * K * inner;
    run(cuda_kernels::index_select_kernel, t, items(t), s, src, dst, idx, outer, n, K, inner);
  }
  static void index_add(float* out, const float* src, const int64_t* idx, int64_t outer, int64_t n, int64_t K,
                        int64_t inner, Stream s) {
    const int64_t t = outer * K * inner;
    run(cuda_kernels::index_add_kernel, t, items(t), s, out, src, idx, outer, n, K, inner);
  }
  static void gather(const float* x, const int64_t* idx, float* out, int64_t outer, int64_t n, int64_t K,
                     int64_t inner, Stream s) {
    const int64_t t = outer * K * inner;
    run(cuda_kernels::gather_kernel, t, items(t), s, x, idx, out, outer, n, K, inner);
  }
  static void scatter_add(float* out, const float* src, const int64_t* idx, int64_t outer, int64_t n, int64_t K,
                          int64_t inner, Stream s) {
    const int64_t t = outer * K * inner;
    run(cuda_kernels::scatter_add_kernel, t, items(t), s, out, src, idx, outer, n, K, inner);
  }
  static void argmax(const float* x, int64_t* out, int64_t outer, int64_t n, int64_t inner, Stream s) {
    run(cuda_kernels::argmax_kernel, outer * inner, items(outer * inner), s, x, out, outer, n, inner);
  }
  static void batch_norm_stats(const float* x, int64_t N, int64_t C, int64_t S, float* mean, float* var, Stream s) {
    run(cuda_kernels::batch_norm_stats_kernel, C, rows(C), s, x, N, C, S, mean, var);
  }
  static void batch_norm_channel(const float* mean, const float* var, const float* weight, const float* bias,
                                 float eps, float* invstd, float* scale, float* shift, float* running_mean,
                                 float* running_var, float momentum, float unbias, int64_t C, Stream s) {
    run(cuda_kernels::batch_norm_channel_kernel, C, items(C), s, mean, var, weight, bias, eps, invstd, scale, shift,
        running_mean, running_var, momentum, unbias, C);
  }
  static void batch_norm_apply(const float* x, const float* scale, const float* shift, float* y, int64_t N,
                               int64_t C, int64_t S, Stream s) {
    run(cuda_kernels::batch_norm_apply_kernel, N * C * S, items(N * C * S), s, x, scale, shift, y, N, C, S);
  }
  static void batch_norm_backward(const float* g, const float* x, const float* mean, const float* invstd,
                                  const float* weight, bool training, float* dx, float* dweight, float* dbias,
                                  float* sums, int64_t N, int64_t C, int64_t S, Stream s) {
    run(cuda_kernels::batch_norm_backward_sums_kernel, C, rows(C), s, g, x, mean, invstd, N, C, S, sums, sums + C);
    if (dx)
      run(cuda_kernels::batch_norm_backward_dx_kernel, N * C * S, items(N * C * S), s, g, x, mean, invstd, weight,
          static_cast<const float*>(sums), static_cast<const float*>(sums + C), training, dx, N, C, S);
    if (dbias) run(cuda_kernels::affine_kernel, C, items(C), s, static_cast<const float*>(sums), dbias, 1.0f, 0.0f, C);
    if (dweight)
      run(cuda_kernels::affine_kernel, C, items(C), s, static_cast<const float*>(sums + C), dweight, 1.0f, 0.0f, C);
  }
  static void density_counts(const float* Q, int64_t n, const float* X, int64_t N, int64_t P, float eps,
                             int64_t* counts, Stream s) {
    SIGNET_CHECK(N < (int64_t{1} << 24), "density_counts: {} data rows, more than the kernel counts exactly (2^24)",
                 N);
    run(cuda_kernels::density_counts_kernel, n, rows(n), s, Q, n, X, N, P, eps, counts);
  }

  static KernelTable table() {
    return {fill_f32,         fill_i64,
            strided_copy_f32, strided_copy_i64,
            unary,            relu_grad,
            affine,           binary_same,
            binary_broadcast, sum_middle,
            softmax,          cross_entropy,
            bce_with_logits,  sgd_step,
            adam_step,        dropout_mask,
            embedding_gather, embedding_scatter_add,
            lstm_cell_forward, lstm_cell_backward,
            max_pool2d,       max_pool2d_backward,
            max_pool2d_gather,
            avg_pool2d,       avg_pool2d_backward,
            index_check,      index_select,
            index_add,        gather,
            scatter_add,      argmax,
            batch_norm_stats, batch_norm_channel,
            batch_norm_apply, batch_norm_backward,
            density_counts,
            // the device's libraries (gemm, conv2d_*): set by whoever builds the table
            nullptr,          nullptr,
            nullptr,          nullptr};
  }
};

}  // namespace signet::cuda
