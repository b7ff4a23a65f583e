// Launches of our own kernels: the shapes come from each kernel's header (the same the CPU
// SIMT harness tests run), every launch is checked.
#include "engine/cuda/check.cuh"
#include "engine/cuda/kernels/density.cuh"
#include "engine/cuda/kernels/elementwise.cuh"
#include "engine/cuda/kernels/embedding.cuh"
#include "engine/cuda/kernels/lstm.cuh"
#include "engine/cuda/kernels/optim.cuh"
#include "engine/cuda/kernels/random.cuh"
#include "engine/cuda/kernels/reduce.cuh"
#include "engine/cuda/kernels/softmax.cuh"
#include "engine/cuda/launch.h"

namespace signet::cuda {
namespace k = cuda_kernels;

namespace {
cudaStream_t stream_of(Stream s) { return static_cast<cudaStream_t>(s); }
}  // namespace

// Elementwise launch over n items (nothing to do for n == 0: CUDA refuses an empty grid).
#define SIGNET_LAUNCH_ELEMENTWISE(kernel, n, s, ...)                                 \
  do {                                                                               \
    if ((n) <= 0) return;                                                            \
    const k::LaunchShape ls = k::elementwise_shape(n);                               \
    k::kernel<<<ls.grid, ls.block, 0, stream_of(s)>>>(__VA_ARGS__);                  \
    SIGNET_CUDA_CHECK_LAUNCH(#kernel);                                               \
  } while (0)
#define SIGNET_LAUNCH_ROWS(kernel, rows, s, ...)                                     \
  do {                                                                               \
    if ((rows) <= 0) return;                                                         \
    const k::LaunchShape ls = k::row_shape(rows);                                    \
    k::kernel<<<ls.grid, ls.block, 0, stream_of(s)>>>(__VA_ARGS__);                  \
    SIGNET_CUDA_CHECK_LAUNCH(#kernel);                                               \
  } while (0)

void unary(Unary op, const float* x, float* y, int64_t n, Stream s) {
  SIGNET_LAUNCH_ELEMENTWISE(unary_kernel, n, s, op, x, y, n);
}
void relu_grad(const float* g, const float* x, float* out, int64_t n, Stream s) {
  SIGNET_LAUNCH_ELEMENTWISE(relu_grad_kernel, n, s, g, x, out, n);
}
void affine(const float* x, float* y, float a, float b, int64_t n, Stream s) {
  SIGNET_LAUNCH_ELEMENTWISE(affine_kernel, n, s, x, y, a, b, n);
}
void binary_same(Binary op, const float* a, const float* b, float* out, int64_t n, Stream s) {
  SIGNET_LAUNCH_ELEMENTWISE(binary_same_kernel, n, s, op, a, b, out, n);
}
void binary_broadcast(Binary op, const float* a, const float* b, float* out, const BroadcastShape& shape, Stream s) {
  int64_t n = 1;
  for (int d = 0; d < shape.ndim; ++d) n *= shape.sizes[d];
  SIGNET_LAUNCH_ELEMENTWISE(binary_broadcast_kernel, n, s, op, a, b, out, shape, n);
}

void sum_middle(const float* x, float* out, int64_t outer, int64_t n, int64_t inner, Stream s) {
  if (inner == 1) {
    SIGNET_LAUNCH_ROWS(sum_rows_kernel, outer, s, x, out, outer, n);
  } else {
    SIGNET_LAUNCH_ELEMENTWISE(sum_columns_kernel, outer * inner, s, x, out, outer, n, inner);
  }
}
void softmax(const float* x, float* y, int64_t outer, int64_t n, int64_t inner, bool log, Stream s) {
  if (inner == 1) {
    SIGNET_LAUNCH_ROWS(softmax_rows_kernel, outer, s, x, y, outer, n, log);
  } else {
    SIGNET_LAUNCH_ELEMENTWISE(softmax_columns_kernel, outer * inner, s, x, y, outer, n, inner, log);
  }
}
void cross_entropy(const float* x, const int64_t* target, float* loss, float* grad, float scale, int64_t N,
                   int64_t C, unsigned long long* bad_row, Stream s) {
  SIGNET_LAUNCH_ROWS(cross_entropy_kernel, N, s, x, target, loss, grad, scale, N, C, bad_row);
}
void bce_with_logits(const float* x, const float* t, float* loss, float* gx, float* gt, float scale, int64_t n,
                     Stream s) {
  SIGNET_LAUNCH_ELEMENTWISE(bce_with_logits_kernel, n, s, x, t, loss, gx, gt, scale, n);
}

void sgd_step(float* p, const float* g, float* buf, float lr, float momentum, float dampening, float weight_decay,
              bool nesterov, bool first, int64_t n, Stream s) {
  SIGNET_LAUNCH_ELEMENTWISE(sgd_kernel, n, s, p, g, buf, lr, momentum, dampening, weight_decay, nesterov, first, n);
}
void adam_step(float* p, const float* g, float* m, float* v, float lr, float beta1, float beta2, float eps,
               float weight_decay, bool decoupled, float step_size, float sqrt_bc2, int64_t n, Stream s) {
  SIGNET_LAUNCH_ELEMENTWISE(adam_kernel, n, s, p, g, m, v, lr, beta1, beta2, eps, weight_decay, decoupled, step_size,
                            sqrt_bc2, n);
}

void dropout_mask(float* mask, uint64_t seed, uint64_t offset, float keep, int64_t n, Stream s) {
  SIGNET_LAUNCH_ELEMENTWISE(dropout_mask_kernel, n, s, mask, seed, offset, keep, n);
}
void embedding_gather(const float* weight, const int64_t* ids, float* out, int64_t P, int64_t D, int64_t V,
                      unsigned long long* bad_pos, Stream s) {
  SIGNET_LAUNCH_ELEMENTWISE(embedding_gather_kernel, P * D, s, weight, ids, out, P, D, V, bad_pos);
}
void embedding_scatter_add(const float* grad_out, const int64_t* ids, float* grad_weight, int64_t P, int64_t D,
                           int64_t V, Stream s) {
  SIGNET_LAUNCH_ELEMENTWISE(embedding_scatter_add_kernel, P * D, s, grad_out, ids, grad_weight, P, D, V);
}

void lstm_cell_forward(const float* gates, const float* c_prev, float* act, float* h, float* c, int64_t B,
                       int64_t H, Stream s) {
  SIGNET_LAUNCH_ELEMENTWISE(lstm_cell_forward_kernel, B * H, s, gates, c_prev, act, h, c, B, H);
}
void lstm_cell_backward(const float* act, const float* c_prev, const float* c, const float* gh, const float* gc,
                        float* dgates, float* dc_prev, int64_t B, int64_t H, Stream s) {
  SIGNET_LAUNCH_ELEMENTWISE(lstm_cell_backward_kernel, B * H, s, act, c_prev, c, gh, gc, dgates, dc_prev, B, H);
}

void density_counts(const float* Q, int64_t n, const float* X, int64_t N, int64_t P, float eps, int64_t* counts,
                    Stream s) {
  SIGNET_CHECK(N < (int64_t{1} << 24), "density_counts: {} data rows, more than the kernel counts exactly (2^24)", N);
  SIGNET_LAUNCH_ROWS(density_counts_kernel, n, s, Q, n, X, N, P, eps, counts);
}

}  // namespace signet::cuda
