// One device's kernels, as a table: each entry launches one of our kernels over device pointers
// on a stream (nullptr: the device's own compute stream, engine/cuda/runtime_cuda.cu), asynchronously, with the launch shape the kernel's
// header chooses, and checks the launch. The contracts (shapes, math) are the CPU ops'
// (engine/ops/*.h); the kernels' headers say where they differ (dropout's generator).
// An op reaches the table of its inputs' device through cuda::kernels(device) (runtime.h):
// a GPU's is engine/cuda/launch.cu's, the tests' emulated device runs the same launches on the
// CPU SIMT harness (engine/cuda/launch_impl.h).
#pragma once
#include <cstdint>

#include "engine/cuda/kernels/types.h"

namespace signet::cuda {

using Stream = void*;  // a cudaStream_t, kept opaque so that host code needs no CUDA headers
using cuda_kernels::Binary;
using cuda_kernels::BroadcastShape;
using cuda_kernels::PoolShape;
using cuda_kernels::Unary;

// One convolution's sizes (engine/ops/conv2d.h's Conv2dGeom): x [N,C,H,W], w [O,C,kh,kw],
// y [N,O,Ho,Wo], strides sh, sw, zero padding ph, pw.
struct ConvGeometry {
  int64_t N, C, H, W, O, kh, kw, sh, sw, ph, pw, Ho, Wo;
};

struct KernelTable {
  void (*fill_f32)(float* y, float v, int64_t n, Stream s);
  void (*fill_i64)(int64_t* y, int64_t v, int64_t n, Stream s);
  // dst = src over shape.sizes, src read through shape.a_strides, dst written through
  // shape.b_strides (element offsets included in the pointers).
  void (*strided_copy_f32)(const float* src, float* dst, const BroadcastShape& shape, Stream s);
  void (*strided_copy_i64)(const int64_t* src, int64_t* dst, const BroadcastShape& shape, Stream s);
  void (*unary)(Unary op, const float* x, float* y, int64_t n, Stream s);
  void (*relu_grad)(const float* g, const float* x, float* out, int64_t n, Stream s);
  void (*affine)(const float* x, float* y, float a, float b, int64_t n, Stream s);  // y = a x + b
  void (*binary_same)(Binary op, const float* a, const float* b, float* out, int64_t n, Stream s);
  void (*binary_broadcast)(Binary op, const float* a, const float* b, float* out, const BroadcastShape& shape,
                           Stream s);
  void (*sum_middle)(const float* x, float* out, int64_t outer, int64_t n, int64_t inner, Stream s);
  void (*softmax)(const float* x, float* y, int64_t outer, int64_t n, int64_t inner, bool log, Stream s);
  // Per-row losses into loss [N] (and the gradient when grad is not null); bad_row: a device
  // word, 0 before, N - r after for the first row r whose target is outside [0, C) (else 0).
  void (*cross_entropy)(const float* x, const int64_t* target, float* loss, float* grad, float scale, int64_t N,
                        int64_t C, unsigned long long* bad_row, Stream s);
  void (*bce_with_logits)(const float* x, const float* t, float* loss, float* gx, float* gt, float scale, int64_t n,
                          Stream s);
  void (*sgd_step)(float* p, const float* g, float* buf, float lr, float momentum, float dampening,
                   float weight_decay, bool nesterov, bool first, int64_t n, Stream s);
  void (*adam_step)(float* p, const float* g, float* m, float* v, float lr, float beta1, float beta2, float eps,
                    float weight_decay, bool decoupled, float step_size, float sqrt_bc2, int64_t n, Stream s);
  void (*dropout_mask)(float* mask, uint64_t seed, uint64_t offset, float keep, int64_t n, Stream s);
  void (*embedding_gather)(const float* weight, const int64_t* ids, float* out, int64_t P, int64_t D, int64_t V,
                           unsigned long long* bad_pos, Stream s);
  void (*embedding_scatter_add)(const float* grad_out, const int64_t* ids, float* grad_weight, int64_t P, int64_t D,
                                int64_t V, Stream s);
  void (*lstm_cell_forward)(const float* gates, const float* c_prev, float* act, float* h, float* c, int64_t B,
                            int64_t H, Stream s);
  void (*lstm_cell_backward)(const float* act, const float* c_prev, const float* c, const float* gh, const float* gc,
                             float* dgates, float* dc_prev, int64_t B, int64_t H, Stream s);
  // Max pooling (kernels/pool.cuh): forward with positions; backward zeroes dx, then routes dy.
  void (*max_pool2d)(const float* x, float* y, int64_t* idx, const PoolShape& g, Stream s);
  void (*max_pool2d_backward)(const float* dy, const int64_t* idx, float* dx, const PoolShape& g, Stream s);
  void (*max_pool2d_gather)(const float* G, const int64_t* idx, float* y, const PoolShape& g, Stream s);
  void (*avg_pool2d)(const float* x, float* y, const PoolShape& g, Stream s);
  void (*avg_pool2d_backward)(const float* dy, float* dx, const PoolShape& g, Stream s);
  // Indexing over [outer, n, inner] (kernels/index.cuh); flag as the kernel's header says.
  void (*index_check)(const int64_t* v, int64_t count, int64_t n, unsigned long long* flag, Stream s);
  void (*index_select)(const float* src, float* dst, const int64_t* idx, int64_t outer, int64_t n, int64_t K,
                       int64_t inner, Stream s);
  void (*index_add)(float* out, const float* src, const int64_t* idx, int64_t outer, int64_t n, int64_t K,
                    int64_t inner, Stream s);
  void (*gather)(const float* x, const int64_t* idx, float* out, int64_t outer, int64_t n, int64_t K, int64_t inner,
                 Stream s);
  void (*scatter_add)(float* out, const float* src, const int64_t* idx, int64_t outer, int64_t n, int64_t K,
                      int64_t inner, Stream s);
  void (*argmax)(const float* x, int64_t* out, int64_t outer, int64_t n, int64_t inner, Stream s);
  // Batch norm over x viewed as [N, C, S] (kernels/batchnorm.cuh). Pointers marked "may be null"
  // in the kernels' header may be null here too.
  void (*batch_norm_stats)(const float* x, int64_t N, int64_t C, int64_t S, float* mean, float* var, Stream s);
  void (*batch_norm_channel)(const float* mean, const float* var, const float* weight, const float* bias, float eps,
                             float* invstd, float* scale, float* shift, float* running_mean, float* running_var,
                             float momentum, float unbias, int64_t C, Stream s);
  void (*batch_norm_apply)(const float* x, const float* scale, const float* shift, float* y, int64_t N, int64_t C,
                           int64_t S, Stream s);
  // dx (may be null), dweight = sum g xhat (may be null), dbias = sum g (may be null); sums is
  // scratch of 2C floats.
  void (*batch_norm_backward)(const float* g, const float* x, const float* mean, const float* invstd,
                              const float* weight, bool training, float* dx, float* dweight, float* dbias,
                              float* sums, int64_t N, int64_t C, int64_t S, Stream s);
  void (*density_counts)(const float* Q, int64_t n, const float* X, int64_t N, int64_t P, float eps, int64_t* counts,
                         Stream s);
  // C[M,N] = alpha op(A) op(B) + beta C, row-major, lda/ldb/ldc the row strides (cpu::gemm_ref's
  // contract). A library call, not one of our kernels: cuBLAS on a GPU (engine/cuda/cublas_gemm.cu),
  // cpu::gemm_ref on the tests' emulated device. Set after Launches<L>::table().
  void (*gemm)(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
               const float* B, int64_t ldb, float beta, float* C, int64_t ldc, Stream s);
  // Convolutions (engine/ops/conv2d.h; all buffers contiguous, bias may be null), library calls
  // as gemm is: cuDNN on a GPU, the CPU references on the emulated device.
  void (*conv2d_forward)(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, Stream s);
  void (*conv2d_backward_input)(const ConvGeometry& g, const float* dy, const float* w, float* dx, Stream s);
  void (*conv2d_backward_weight)(const ConvGeometry& g, const float* dy, const float* x, float* dw, Stream s);
};

// The GPU's table (engine/cuda/launch.cu; only in builds with the CUDA backend).
const KernelTable& gpu_kernel_table();

}  // namespace signet::cuda
