// Principal component analysis of activations, and the projection as a dense layer.
//
// DeepSigns' density model (paper Section 3.2.3): "we first apply PCA on the activation maps
// acquired by passing the training data through the converged DNN ... We encode the PCA
// transformation as a dense layer inserted after the second-to-last layer of the original DNN
// graph ... The weights of the new dense layer are obtained from the Eigenvectors".
//
// fit_pca(X [N, M], explained):
//   mean    = column means of X                                         float32 [M]
//   C       = (X - mean)^T (X - mean) / (N - 1): each thread centres chunks of rows and
//             multiplies them with the engine's GEMM (float), only the tiles on and above the
//             diagonal (C is symmetric), summed in double. Eigendecomposition in LAPACK's steps
//             (double, from OpenBLAS): tridiagonal form (dsytrd), all eigenvalues (dsterf), then
//             the eigenvectors of the P kept components only (dstemr, dormtr): those are most of
//             a full solver's time. tests/watermark/test_pca.cpp checks it against a plain-loop
//             covariance and Eigen's solver.
//   P       = the smallest number of leading components whose eigenvalues sum to at least
//             `explained` of the trace (default 0.95), capped by max_components when > 0.
//   components = the P leading eigenvectors as columns, largest eigenvalue first    [M, P]
//             Each eigenvector's sign is fixed so that its entry of largest magnitude is
//             positive (eigenvectors are defined up to sign; this makes fits reproducible).
//   eigenvalues = all M eigenvalues, descending (clamped at 0).
// Errors: X not float32 [N, M] with N >= 2; explained outside (0, 1]; zero total variance (a
// dead layer: every activation constant), naming the layer when given.
//
// The dense layer: pca_project(X) = (X - mean) W = X W + b with W = components and
// b = -mean W, i.e. exactly a Linear layer with weight W^T [P, M] and bias b [P] (PyTorch's
// layout), applied with the engine's `linear` op (one GEMM) to activations already tapped from
// the model. So "the dense layer appended after the second-to-last layer" is: tap that layer
// (get_activations) and apply pca_project; the model itself is not modified, and its
// predictions are unchanged.
#pragma once
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace signet {

struct PcaModel {
  Tensor mean;                      // float32 [M]
  Tensor components;                // float32 [M, P]
  std::vector<double> eigenvalues;  // all M, descending
  double explained = 0;             // share of the variance the P components keep
  int64_t in_features() const { return components.size(0); }
  int64_t out_features() const { return components.size(1); }
  Tensor weight() const;  // [P, M] = components^T (Linear layout)
  Tensor bias() const;    // [P]    = -mean components
};

PcaModel fit_pca(const Tensor& X, double explained = 0.95, int64_t max_components = 0,
                 const std::string& what = "activations");

// Rebuilds a PcaModel from the stored mean [M] and components [M, P] (keys files).
PcaModel pca_from_tensors(const Tensor& mean, const Tensor& components, const std::string& source);

// (X - mean) W for X [N, M] (any float32 2-D tensor, e.g. flattened taps): [N, P].
Tensor pca_project(const PcaModel& pca, const Tensor& X);

}  // namespace signet
