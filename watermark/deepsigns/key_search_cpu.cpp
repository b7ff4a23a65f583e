// CPU kernels of the density op (contract in key_search.h).
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include <omp.h>

#include "engine/ops/dispatch.h"
#include "engine/cpu/gemm_tile_kernel.h"
#include "watermark/deepsigns/key_search.h"

namespace signet::cpu {

// Not inlined, so that the reference and the fast path's boundary recheck run the very same
// instructions (no contraction or reordering differences between call sites).
__attribute__((noinline)) double exact_sq_dist(const float* a, const float* b, int64_t P) {
  double s = 0;
  for (int64_t p = 0; p < P; ++p) {
    const double d = static_cast<double>(a[p]) - static_cast<double>(b[p]);
    s += d * d;
  }
  return s;
}

void density_counts_ref(const float* Q, int64_t n, const float* X, int64_t N, int64_t P, float eps, int64_t* counts) {
  const double e2 = static_cast<double>(eps) * static_cast<double>(eps);
  for (int64_t i = 0; i < n; ++i) {
    int64_t c = 0;
    for (int64_t j = 0; j < N; ++j) c += exact_sq_dist(Q + i * P, X + j * P, P) <= e2;
    counts[i] = c;
  }
}

namespace {
std::vector<float> row_sq_norms(const float* A, int64_t rows, int64_t P) {
  std::vector<float> out(rows);
#pragma omp parallel for schedule(static) if (rows * P > kParallelGrain)
  for (int64_t r = 0; r < rows; ++r) {
    double s = 0;
    for (int64_t p = 0; p < P; ++p) s += static_cast<double>(A[r * P + p]) * A[r * P + p];
    out[r] = static_cast<float>(s);
  }
  return out;
}

// The distance scan: every (point, query) pair's GEMM-form squared distance
// (||q||^2 + ||x||^2) - 2 <q, x>, computed kRows points x kLanes queries at a time in registers
// (the GEMM's own register tile, gemm_tile_kernel.h) into a small block that the caller
// thresholds while it is in L1. A generic GEMM would write the whole [queries, points] product
// to memory first, and with P (the PCA's few dozen components) as its inner dimension it runs
// far from the FMA roof.
constexpr int kRows = 12, kLanes = 32;
constexpr int64_t kSpan = 504;  // points per work item (a multiple of kRows): about 55 KB of X at P = 27

struct DistanceScan {
  const float* X;
  int64_t n, N, P, groups;
  std::vector<float> packed;  // queries per group of kLanes: packed[(g * P + k) * kLanes + l] = Q[g kLanes + l, k]
  std::vector<float> nq, nx;  // squared norms; nq is 0 past n
  DistanceScan(const float* Q, int64_t n_, const float* X_, int64_t N_, int64_t P_)
      : X(X_), n(n_), N(N_), P(P_), groups((n_ + kLanes - 1) / kLanes), packed(groups * P_ * kLanes, 0.0f),
        nq(groups * kLanes, 0.0f), nx(row_sq_norms(X_, N_, P_)) {
    const std::vector<float> norms = row_sq_norms(Q, n, P);
    std::copy(norms.begin(), norms.end(), nq.begin());
    for (int64_t i = 0; i < n; ++i)
      for (int64_t k = 0; k < P; ++k) packed[((i / kLanes) * P + k) * kLanes + i % kLanes] = Q[i * P + k];
  }

  // visit(thread, i0, j0, rows, d) for every block of points [j0, j0 + rows) and queries
  // [i0, i0 + kLanes) (lanes past n are padding), d[r * kLanes + l] the distance of query i0 + l
  // and point j0 + r. Spans of points are split statically over the threads.
  template <class Visit>
  void run(Visit&& visit) const {
    const int64_t spans = (N + kSpan - 1) / kSpan;
#pragma omp parallel if (n * N * P > kParallelGrain && spans > 1)
    {
      const int thread = omp_get_thread_num();
      alignas(64) float d[kRows * kLanes];
      std::vector<int64_t> boff(P);
#pragma omp for schedule(static)
      for (int64_t s = 0; s < spans; ++s) {
        const int64_t end = std::min(N, (s + 1) * kSpan);
        for (int64_t g = 0; g < groups; ++g) {
          for (int64_t k = 0; k < P; ++k) boff[k] = (g * P + k) * kLanes;
          for (int64_t j0 = s * kSpan; j0 < end; j0 += kRows) {
            const int rows = static_cast<int>(std::min<int64_t>(kRows, end - j0));
            block(g, j0, rows, boff.data(), d);
            visit(thread, g * kLanes, j0, rows, static_cast<const float*>(d));
          }
        }
      }
    }
  }

 private:
  // d = -2 <q, x> by the register tile (or plain loops without AVX-512), then the norms added:
  // (||q||^2 + ||x||^2) + (-2 <q, x>), the order density_counts_fast's tolerance assumes.
  void block(int64_t g, int64_t j0, int rows, const int64_t* boff, float* d) const {
#if defined(__AVX512F__)
    int64_t aoff[kRows];
    for (int r = 0; r < kRows; ++r) aoff[r] = (j0 + std::min(r, rows - 1)) * P;  // rows past the end repeat the last
    gemm::tile_kernel<kRows, true, true>(P, X, aoff, packed.data(), boff, d, kLanes, -2.0f, 0.0f, rows, kLanes);
#else
    for (int r = 0; r < rows; ++r) {
      float acc[kLanes] = {};
      for (int64_t k = 0; k < P; ++k) {
        const float x = X[(j0 + r) * P + k];
        const float* q = packed.data() + boff[k];
        for (int l = 0; l < kLanes; ++l) acc[l] += x * q[l];
      }
      for (int l = 0; l < kLanes; ++l) d[r * kLanes + l] = -2.0f * acc[l];
    }
#endif
    const float* nqg = nq.data() + g * kLanes;
    for (int r = 0; r < rows; ++r) {
      const float nxr = nx[j0 + r];
#pragma omp simd
      for (int l = 0; l < kLanes; ++l) d[r * kLanes + l] = (nqg[l] + nxr) + d[r * kLanes + l];
    }
  }
};
}  // namespace

// Rounding bound of the GEMM form, relative to ||a||^2 + ||b||^2 (see key_search.h).
static float gemm_form_tolerance(int64_t P) { return static_cast<float>(2.0 * (static_cast<double>(P) + 8.0) * std::ldexp(1.0, -24)); }

void density_counts_fast(const float* Q, int64_t n, const float* X, int64_t N, int64_t P, float eps, int64_t* counts) {
  std::fill(counts, counts + n, int64_t{0});
  if (n == 0 || N == 0) return;
  const double e2 = static_cast<double>(eps) * static_cast<double>(eps);
  const float e2f = static_cast<float>(e2);
  const float c = gemm_form_tolerance(P);
  const float tiny = 1e-30f;
  const DistanceScan scan(Q, n, X, N, P);
  // part[thread][i]: the points the thread found within eps of query i (padded to whole groups).
  std::vector<std::vector<int64_t>> part(omp_get_max_threads(), std::vector<int64_t>(scan.groups * kLanes, 0));
  scan.run([&](int thread, int64_t i0, int64_t j0, int rows, const float* d) {
    const float* nqg = scan.nq.data() + i0;
    const float* nxb = scan.nx.data() + j0;
    int64_t* mine = part[thread].data() + i0;
    const float cr = c, e2r = e2f, tinyr = tiny;  // locals: captured references make the loops gather
    // Per lane over the block's rows, so that the only horizontal step is one test per block.
    int sure[kLanes] = {}, unsure[kLanes] = {};
    for (int r = 0; r < rows; ++r) {
      const float* dr = d + r * kLanes;
      const float nxr = nxb[r];
#pragma omp simd
      for (int l = 0; l < kLanes; ++l) {
        const float tol = cr * (nqg[l] + nxr) + tinyr;
        sure[l] += dr[l] <= e2r - tol ? 1 : 0;
        unsure[l] |= (dr[l] > e2r - tol) & (dr[l] <= e2r + tol) ? 1 : 0;
      }
    }
    int any_unsure = 0;
#pragma omp simd reduction(| : any_unsure)
    for (int l = 0; l < kLanes; ++l) {
      mine[l] += sure[l];
      any_unsure |= unsure[l];
    }
    if (any_unsure) {  // near the ball's edge: decide with the exact distance
      for (int r = 0; r < rows; ++r)
        for (int l = 0; l < kLanes && i0 + l < n; ++l) {
          const float dl = d[r * kLanes + l], tol = cr * (nqg[l] + nxb[r]) + tinyr;
          if (dl > e2r - tol && dl <= e2r + tol) mine[l] += exact_sq_dist(Q + (i0 + l) * P, X + (j0 + r) * P, P) <= e2;
        }
    }
  });
  for (const auto& p : part)
    for (int64_t i = 0; i < n; ++i) counts[i] += p[i];
}

void kth_sq_distances(const float* Q, int64_t n, const float* X, int64_t N, int64_t P, int64_t k,
                      const int64_t* self_index, float* out) {
  if (n == 0) return;
  const DistanceScan scan(Q, n, X, N, P);
  const int64_t threads = omp_get_max_threads(), lanes = scan.groups * kLanes;
  // heaps[thread * n + i]: the k smallest squared distances the thread has seen for query i
  // (a max-heap); bars[thread * lanes + i]: the distance a point must be under to enter it
  // (infinite until it holds k; padding lanes stay at -infinity and take nothing).
  std::vector<std::vector<float>> heaps(threads * n);
  std::vector<float> bars(threads * lanes, -std::numeric_limits<float>::infinity());
  for (int64_t t = 0; t < threads; ++t)
    std::fill(bars.begin() + t * lanes, bars.begin() + t * lanes + n, std::numeric_limits<float>::infinity());
  scan.run([&](int thread, int64_t i0, int64_t j0, int rows, const float* d) {
    float* bar = bars.data() + thread * lanes + i0;
    // Almost every point is beyond every query's bar: one vectorised test per block, and the
    // heaps are touched only for the few points that pass.
    int under[kLanes] = {};
    for (int r = 0; r < rows; ++r) {
      const float* dr = d + r * kLanes;
#pragma omp simd
      for (int l = 0; l < kLanes; ++l) under[l] |= dr[l] < bar[l] ? 1 : 0;
    }
    int any_under = 0;
#pragma omp simd reduction(| : any_under)
    for (int l = 0; l < kLanes; ++l) any_under |= under[l];
    if (!any_under) return;
    for (int l = 0; l < kLanes; ++l) {
      if (!under[l]) continue;
      const int64_t i = i0 + l;
      auto& h = heaps[thread * n + i];
      for (int r = 0; r < rows; ++r) {
        const float dl = d[r * kLanes + l];
        if (!(dl < bar[l]) || (self_index && self_index[i] == j0 + r)) continue;
        const float dist = std::max(0.0f, dl);
        if (static_cast<int64_t>(h.size()) < k) {
          h.push_back(dist);
          std::push_heap(h.begin(), h.end());
        } else {
          std::pop_heap(h.begin(), h.end());
          h.back() = dist;
          std::push_heap(h.begin(), h.end());
        }
        if (static_cast<int64_t>(h.size()) == k) bar[l] = h.front();
      }
    }
  });
  // The k-th smallest of the threads' k smallest each: the k-th smallest of all.
  std::vector<float> all;
  for (int64_t i = 0; i < n; ++i) {
    all.clear();
    for (int64_t t = 0; t < threads; ++t) all.insert(all.end(), heaps[t * n + i].begin(), heaps[t * n + i].end());
    std::nth_element(all.begin(), all.begin() + (k - 1), all.end());
    out[i] = all[k - 1];
  }
}

void kth_surely_within(const float* Q, int64_t n, const float* X, int64_t N, int64_t P, const float* kth_sq, float eps,
                       uint8_t* surely_within) {
  const std::vector<float> nq = row_sq_norms(Q, n, P), nx = row_sq_norms(X, N, P);
  const double max_nx = N ? *std::max_element(nx.begin(), nx.end()) : 0.0;
  const double e2 = static_cast<double>(eps) * static_cast<double>(eps), c = gemm_form_tolerance(P);
  for (int64_t i = 0; i < n; ++i) {
    // density_counts_fast's rule (a pair is surely inside when d <= e2 - tol) with the largest
    // tol of any point, and a relative margin for this sum's own rounding.
    const double tol = (c * (static_cast<double>(nq[i]) + max_nx) + 1e-30) * (1 + 1e-5);
    surely_within[i] = static_cast<double>(kth_sq[i]) <= e2 - tol;
  }
}

}  // namespace signet::cpu
