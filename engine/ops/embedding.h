// Embedding lookup (PyTorch's F.embedding without padding_idx / max_norm).
//
// embedding(weight [V, D], ids int64 [...]) -> [..., D] with out[p, :] = weight[ids[p], :]
//   for every position p of ids (any number of dims, including 0-d: out is [D]).
//   An id outside [0, V) is an Error naming the id, its position and V.
//   Gradient w.r.t. weight: index_add of the output gradient rows into zeros [V, D], so the
//   rows of repeated ids add. ids get no gradient. Built on index_select / index_add and
//   reshape (engine/ops/index.h, shape.h), so double backward works as for those ops
//   (the gradient is linear in the output gradient).
#pragma once
#include "engine/tensor.h"

namespace signet {

Tensor embedding(const Tensor& weight, const Tensor& ids);

}  // namespace signet
