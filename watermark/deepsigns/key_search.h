// DeepSigns density-based key search (paper Section 3.2.1, Key Generation 1, and 3.2.3): random
// candidate inputs are kept only where the training data's activations (second-to-last layer,
// projected by PCA) are sparse: fewer than `threshold` training activations within an
// epsilon-ball of the candidate's activation.
//
// ---- The op ------------------------------------------------------------------------------
// density_counts(Q [n, P], X [N, P], eps) -> int64 [n]
//   counts[i] = #{ j : d2(Q_i, X_j) <= eps^2 }, where d2 is defined exactly as
//     d2(a, b) = sum_{p < P} (double(a_p) - double(b_p))^2     summed in double, p ascending,
//   and eps^2 = double(eps) * double(eps). eps >= 0; both inputs float32, CPU, 2-D, same P.
//   No gradient (counts are integers).
//
// cpu::density_counts_ref: plain loops, d2 for every pair as defined above.
// cpu::density_counts_fast: the same counts, exactly. Distances come in the GEMM form
//   ||a||^2 + ||b||^2 - 2 a.b, 12 points x 32 queries at a time from the GEMM's register tile
//   (key_search_cpu.cpp), each block thresholded and counted while in L1. float32 rounding of that
//   expression is bounded by tol = 2 (P + 8) 2^-24 (||a||^2 + ||b||^2) (the dot product's
//   error is at most gamma_P sum |a_p b_p| <= gamma_P (||a||^2 + ||b||^2) / 2, plus the
//   roundings of the norms and of the sum; the bound is doubled for margin); a pair is decided
//   from the GEMM value when it is more than tol from eps^2, and recomputed with the exact d2
//   otherwise (rare: pairs within ~1e-5 relative of the ball's edge). So fast == ref exactly.
//
// ---- epsilon and the threshold (derived from the data) -------------------------------------
// fit_density_model(train activations) with DensityConfig:
//   PCA       fitted on a random sample of pca_sample = 5,000 training points (all of them
//             when there are fewer, or when pca_sample is 0), then every training point is
//             projected. The covariance grows with the sample (N M^2 flops); the leading
//             subspace of a few hundred features is already well estimated from 5,000 points
//             (tests/watermark/test_key_search.cpp compares a sample's fit with the fit on all
//             points; bench_key_search.cpp's kept_vs_full measures how much of the variance the
//             full fit keeps a sample's components keep).
//   eps       = the median (eps_quantile = 0.5) over a subsample of eps_sample = 1000 training
//               points of the distance (in PCA space) to their k-th nearest other training
//               point, k = eps_neighbours = 10. So a typical training activation has about k
//               training neighbours within eps: the ball measures local density at the scale
//               of the data's own clusters.
//   threshold = the threshold_percentile = 1st percentile of the same subsample's own
//               eps-ball counts (themselves excluded), at least 1. Only the lowest counts decide
//               it: a point whose k nearest are surely inside its ball holds at least k others,
//               so only the rest are counted, unless the percentile reaches up to k (then all). A candidate is accepted when
//               count < threshold: its neighbourhood is emptier than that of 99% of training
//               points ("rarely explored"). At least 1, so that a candidate with no training
//               activation within eps is always accepted (threshold 0 would accept nothing).
//   Why not a fixed eps: activation scales differ by model, layer and training run; a quantile
//   of nearest-neighbour distances is scale-free, and the percentile makes the threshold mean
//   the same thing ("sparser than 99% of the data") for any model.
//
// ---- The search -----------------------------------------------------------------------------
// density_key_search: draws candidates with every pixel uniform in [0, 1) (the data's pixel
// range; the model's input normalisation is applied by get_activations), taps their
// activations at the density model's layer, projects them, counts, keeps those with
// count < threshold, and redraws: each round draws `wanted` fresh candidates and keeps the
// accepted ones (in draw order) until `wanted` are kept, for at most max_rounds rounds (so an
// acceptance rate down to about 1/max_rounds = 2% succeeds; `drawn` counts the candidates
// examined, in order, up to the last one accepted: wanted / drawn is the acceptance rate). Error, saying what to change, when fewer than
// `wanted` candidates are found.
#pragma once
#include <string>
#include <vector>

#include "datasets/dataset.h"
#include "models/model_io.h"
#include "watermark/deepsigns/pca.h"

namespace signet {

Tensor density_counts(const Tensor& queries, const Tensor& points, float eps);

// Distance (float32 GEMM form, clamped at 0, then sqrt) from each query to its k-th nearest
// point, skipping points[self_index[i]] for query i when self_index is given (-1: none).
std::vector<float> kth_neighbour_distance(const Tensor& queries, const Tensor& points, int64_t k,
                                          const std::vector<int64_t>& self_index = {});

// Nearest points kept per sampled point in the eps calibration: enough that most balls are
// counted from the list.
constexpr int64_t kNearestKept = 64;

struct DensityConfig {
  double explained_variance = 0.95;  // PCA components kept
  int64_t max_components = 0;        // cap on P (0: none)
  int64_t pca_sample = 5000;         // training points the PCA is fitted on (0: all of them)
  int64_t eps_neighbours = 10;       // k of the k-th nearest neighbour distance
  double eps_quantile = 0.5;         // quantile of those distances taken as eps
  int64_t eps_sample = 1000;         // training points sampled to set eps and the threshold
  double threshold_percentile = 1.0; // percentile of the sample's own ball counts
  int64_t max_rounds = 50;           // redraw rounds before giving up
};

struct DensityModel {
  std::string layer;
  PcaModel pca;
  Tensor train_proj;     // float32 [N, P], the training activations in PCA space
  float eps = 0;
  int64_t threshold = 1; // accept when count < threshold
  std::vector<int64_t> eps_sample;  // the rows of train_proj that set eps and the threshold
};

// Fits the density model from the training activations [N, M] of `layer`.
DensityModel fit_density_model(const Tensor& train_activations, const std::string& layer, const DensityConfig& cfg,
                               Rng& rng);

struct KeySearchResult {
  Tensor inputs;                 // float32 [wanted, C, H, W], pixels in [0, 1)
  std::vector<int64_t> counts;   // each accepted candidate's eps-ball count
  std::vector<float> kth_distance;  // sparsest: each kept candidate's k-th neighbour distance
  float cutoff = 0;              // sparsest: the smallest distance kept
  int64_t drawn = 0, rounds = 0; // candidates drawn in all, rounds used
};

// Uniform [0, 1) pixels: n inputs of the given [C, H, W] shape.
Tensor random_pixel_inputs(int64_t n, const Shape& input_shape, Rng& rng);

KeySearchResult density_key_search(Model& model, const Normalization& norm, const DensityModel& dm,
                                   int64_t wanted, const Shape& input_shape, const DensityConfig& cfg, Rng& rng);

// The sparsest of a pool: draws kSparsestPool x `wanted` random candidates, measures each one's
// distance (PCA space) to its eps_neighbours-th nearest training activation, and keeps the
// `wanted` farthest, in draw order. The threshold thus comes from the candidates' own density
// distribution (the sparsest fifth of what random inputs reach), not from the training points'
// (where almost every random input counts as "rare"). counts: each kept candidate's eps-ball
// count, as for density_key_search; kth_distance: the distances that ranked them.
constexpr int64_t kSparsestPool = 5;
KeySearchResult sparsest_key_search(Model& model, const Normalization& norm, const DensityModel& dm,
                                    int64_t wanted, const Shape& input_shape, const DensityConfig& cfg, Rng& rng);

namespace cpu {
// Exact squared distance as the contract defines it (shared by ref and fast).
double exact_sq_dist(const float* a, const float* b, int64_t P);
void density_counts_ref(const float* Q, int64_t n, const float* X, int64_t N, int64_t P, float eps, int64_t* counts);
void density_counts_fast(const float* Q, int64_t n, const float* X, int64_t N, int64_t P, float eps, int64_t* counts);
// out[i] = the k-th smallest GEMM-form squared distance (clamped at 0) from query i to the
// points, skipping point self_index[i] for query i when self_index is given (-1: none).
// surely_within[i] = 1 when that distance proves the k nearest points within eps by the exact
// distance too (it is at most eps^2 less the GEMM form's rounding bound for any point).
void kth_sq_distances(const float* Q, int64_t n, const float* X, int64_t N, int64_t P, int64_t k,
                      const int64_t* self_index, float* out);
void kth_surely_within(const float* Q, int64_t n, const float* X, int64_t N, int64_t P, const float* kth_sq, float eps,
                       uint8_t* surely_within);
}  // namespace cpu

}  // namespace signet
