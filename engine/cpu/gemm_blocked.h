// Signet's own single-precision GEMM: a cache-blocked driver (Goto/BLIS loop nest) around an
// AVX-512 register-tile kernel, with the packing of A and B and the writing of C left to the
// caller. matmul's gemm_fast uses it with plain row-major packers; the convolution uses it with
// packers that read the image directly (implicit im2col: no [C*kh*kw, Ho*Wo] column matrix is
// ever written) and, for the input gradient, a writer that folds tiles back onto the image
// (col2im fused into the GEMM).
//
// Contract: C[M,N] (op)= A[M,K] B[K,N].
//   pack_a(i0, k0, mc, kc, dst): A[i0:i0+mc, k0:k0+kc] as ceil(mc/MR) micro-panels, each
//     [kc][MR] (dst[p*kc*MR + k*MR + r] = A[i0 + p*MR + r, k0 + k]), rows past mc zero.
//   pack_b(j0, k0, nc, kc, dst): B[k0:k0+kc, j0:j0+nc] as ceil(nc/NR) micro-panels, each
//     [kc][NR] (dst[q*kc*NR + k*NR + c] = B[k0 + k, j0 + q*NR + c]), columns past nc zero.
//     j0 - (start of the panel) is always a multiple of NR, so threads can pack parts.
//   tile(i0, j0, mr, nr, a_panel, b_panel, kc, k0): computes one MR x NR block (mr x nr of
//     it valid) of A B over the k-block [k0, k0+kc) and stores it (so a writer applies beta at
//     k0 == 0 and accumulates afterwards; one that reads A in place offsets it by k0).
// The loop nest: N in blocks of NC (B panel in L3) > K in blocks of KC > M in blocks of MC
// (A block in L2) > NR columns (B micro-panel, KC x NR = 32 KiB, in L1) > MR rows.
// Threads split M (each packs its own A block) when there are enough row panels, otherwise N
// inside each B panel; the B panel is packed by all threads together (each thread packing the
// whole panel for itself, no barrier, was measured too: the same speed at 512-2048^3).
//
// Why not OpenBLAS: measured on this Zen 5 (bench/RESULTS.md), OpenBLAS 0.3.21 reaches 78% of
// the FMA roof at 512^3 with its AVX-512 kernels and half that with the AVX2 kernels the
// environment selects (OPENBLAS_CORETYPE=Haswell); and an im2col convolution through a
// library GEMM writes and re-reads a column matrix 9x the image, which falls out of L2.
#pragma once
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <thread>

#if defined(__AVX512F__)
#define SIGNET_HAVE_AVX512_GEMM 1
#else
#define SIGNET_HAVE_AVX512_GEMM 0
#endif

namespace signet::cpu::gemm {

constexpr int NR = 32;           // columns per tile: two 16-float zmm registers
// Block sizes, tried on 512^3..2048^3 single-threaded (KC 128/192/256, NC 512..3072, MC 96/144):
// KC = 256 was best at every size, NC and MC mattered by less than the run-to-run noise.
constexpr int64_t kKcMax = 256;   // k-block: a B micro-panel (256 x 32 floats) is 32 KiB
constexpr int64_t kNcMax = 3072;  // B panel <= 3 MiB (in L3)
constexpr int64_t kMcMax = 144;   // A block <= 144 x 256 floats = 144 KiB (in the 1 MiB L2)
constexpr int64_t kNarrowKMax = 16384;  // gemm_narrow's packed B (K x NR floats) within L2
constexpr int64_t kFewRowsMinWide = int64_t{1} << 18;  // 1 MiB of B: gemm_fast's few-row paths

// Register-tile kernel: acc[MR, NR] = sum_k a[k*MR + r] * b[k*NR + c]; then
// C[r, c] = alpha * acc + beta * C[r, c] for r < mr, c < nr (beta == 0: C is not read).
// MR is 8 or 12 (16 or 24 accumulators). a and b 64-byte aligned.
template <int MR>
void kernel(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha, float beta,
            int mr, int nr);

// The row-tile height that gives the busiest thread the fewest rows (tiles are padded to MR
// rows, and threads split M in whole tiles); ties go to 12, whose load-to-FMA ratio is better.
// 8 divides every conv channel count and splits 512 rows evenly over 2 threads (12 leaves one
// thread 264 rows and the other 248).
inline int choose_mr(int64_t M, int threads) {
  auto busiest = [&](int64_t mr) { return ((M + mr - 1) / mr + threads - 1) / threads * mr; };
  return busiest(12) <= busiest(8) ? 12 : 8;
}

// Per-thread packing buffers (64-byte aligned, grown on demand, reused between calls so a
// steady-state step allocates nothing).
float* thread_buffer(int which, int64_t floats);

inline int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }
// Splits `total` into ceil(total / max_block) blocks of near-equal size, each a multiple of `unit`.
inline int64_t balanced_block(int64_t total, int64_t max_block, int64_t unit) {
  const int64_t blocks = std::max<int64_t>(1, (total + max_block - 1) / max_block);
  return round_up((total + blocks - 1) / blocks, unit);
}

// A barrier that spins (then yields) instead of sleeping: the waits here are a few
// microseconds, and with OMP_WAIT_POLICY=passive an OpenMP barrier puts the waiting thread to
// sleep, which cost more than the whole 512^3 product's packing (measured: 69% of the roof
// with `omp barrier`).
class SpinBarrier {
 public:
  void wait(int participants) {
    const int gen = gen_.load(std::memory_order_acquire);
    if (count_.fetch_add(1, std::memory_order_acq_rel) == participants - 1) {
      count_.store(0, std::memory_order_relaxed);
      gen_.fetch_add(1, std::memory_order_release);
      return;
    }
    for (int spins = 0; gen_.load(std::memory_order_acquire) == gen; ++spins) {
      if (spins < (1 << 14)) {
        _mm_pause();
      } else {
        std::this_thread::yield();
      }
    }
  }

 private:
  std::atomic<int> count_{0}, gen_{0};
};

template <int MR, class PackA, class PackB, class Tile>
void blocked(int64_t M, int64_t N, int64_t K, int nt, PackA&& pack_a, PackB&& pack_b, Tile&& tile) {
  if (M <= 0 || N <= 0) return;
  const int64_t kc_blk = K > 0 ? balanced_block(K, kKcMax, 8) : 0;
  const int64_t nc_blk = balanced_block(N, kNcMax, NR);
  const int64_t mpanels = (M + MR - 1) / MR;
  nt = std::max(1, std::min(nt, omp_get_max_threads()));
  // Two B panels used in turn: a thread packing panel b+2 has passed the barrier after
  // panel b+1 was packed, which every thread reaches only after computing with panel b.
  const int64_t bpanel = kKcMax * round_up(std::min(N, kNcMax), NR);
  float* bbuf = thread_buffer(0, (nt > 1 ? 2 : 1) * bpanel);
  SpinBarrier barrier;

#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    const int t = omp_get_thread_num(), T = omp_get_num_threads();
    // Threads split M (sharing each packed B panel, a barrier per k-block) or N (each packs
    // and reads only its own B panels: no barrier, but every thread packs all of A). N for a
    // short A (at most 2 row blocks, no bigger than B) when every thread gets two micro-panels:
    // the linear layers at batch 128 spent a tenth of their time waiting at the barrier.
    const bool split_n = T > 1 && M <= std::min(N, 2 * kMcMax) && (std::min(N, kNcMax) + NR - 1) / NR >= 2 * T;
    const bool split_m = T > 1 && mpanels >= 2 * T && !split_n;
    // Row range of each thread (split_m) or of everyone.
    const int64_t rows_per = split_m ? (mpanels + T - 1) / T * MR : round_up(M, MR);
    const int64_t mc_blk = balanced_block(std::min(rows_per, M), kMcMax, MR);
    float* apack = thread_buffer(1, kKcMax * mc_blk);
    const int64_t m_lo = split_m ? std::min(M, t * rows_per) : 0;
    const int64_t m_hi = split_m ? std::min(M, m_lo + rows_per) : M;
    // Split N: each thread packs only the panels it reads, so into a buffer of its own (thread 0's
    // is bbuf). In the shared pair a thread two k-blocks ahead could overwrite panels another
    // still reads: a share's offset moves with kc (a shorter last k-block) and with the last
    // column block's width.
    float* own_b = split_n ? thread_buffer(0, bpanel) : nullptr;
    int64_t step = 0;
    for (int64_t jc = 0; jc < N; jc += nc_blk) {
      const int64_t nc = std::min(nc_blk, N - jc), qpanels = (nc + NR - 1) / NR;
      // Threads that split N take contiguous runs of micro-panels.
      const int64_t q_lo = split_m ? 0 : qpanels * t / T, q_hi = split_m ? qpanels : qpanels * (t + 1) / T;
      for (int64_t pc = 0; pc < std::max<int64_t>(K, 1); pc += std::max<int64_t>(kc_blk, 1), ++step) {
        const int64_t kc = std::min(kc_blk, K - pc);
        float* bpack = split_n ? own_b : bbuf + (T > 1 ? step % 2 : 0) * bpanel;
        {  // everyone packs a share of the B panel
          const int64_t s = qpanels * t / T, e = qpanels * (t + 1) / T;
          if (e > s && kc > 0)
            pack_b(jc + s * NR, pc, std::min(nc, e * NR) - s * NR, kc, bpack + s * kc * NR);
        }
        if (split_m) barrier.wait(T);  // otherwise a thread reads only the panels it packed
        for (int64_t ic = m_lo; ic < m_hi; ic += mc_blk) {
          const int64_t mc = std::min(mc_blk, m_hi - ic);
          if (kc > 0) pack_a(ic, pc, mc, kc, apack);
          for (int64_t q = q_lo; q < q_hi; ++q) {
            const int64_t jr = q * NR;
            const int nr = static_cast<int>(std::min<int64_t>(NR, nc - jr));
            for (int64_t ir = 0; ir < mc; ir += MR) {
              const int mr = static_cast<int>(std::min<int64_t>(MR, mc - ir));
              tile(ic + ir, jc + jr, mr, nr, apack + ir * kc, bpack + q * kc * NR, kc, pc);
            }
          }
        }
      }
    }
  }
}

// Threads worth using for an M x N x K product on `avail` threads: one below 10 MFLOP (the
// OpenMP wake-up costs more than it saves: 128^3 ran at 90 GFLOP/s on 2 threads, ~190 on one), none inside another parallel region.
inline int threads_for(int64_t M, int64_t N, int64_t K) {
  if (omp_in_parallel()) return 1;
  const double flops = 2.0 * static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K);
  return flops < 1.0e7 ? 1 : omp_get_max_threads();
}

}  // namespace signet::cpu::gemm
