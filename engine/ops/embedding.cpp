#include "engine/ops/embedding.h"

#include "engine/ops/dispatch.h"
#include "engine/ops/index.h"
#include "engine/ops/shape.h"

namespace signet {

Tensor embedding(const Tensor& weight, const Tensor& ids) {
  SIGNET_DISPATCH("embedding", {weight, ids});
  SIGNET_CHECK(weight.dim() == 2 && weight.dtype() == DType::F32,
               "embedding: the weight must be a 2-d float32 table [num_embeddings, dim], got {}",
               weight.str());
  SIGNET_CHECK(ids.dtype() == DType::I64,
               "embedding: ids must be an int64 tensor of token indices, got {} (convert the "
               "token ids to int64)", ids.str());
  const int64_t V = weight.size(0), D = weight.size(1);
  const Tensor flat = ids.contiguous().view_as_shape({ids.numel()});
  const int64_t* p = flat.i64();
  for (int64_t k = 0, n = flat.numel(); k < n; ++k)
    SIGNET_CHECK(p[k] >= 0 && p[k] < V,
                 "embedding: id {} (at flat position {} of ids {}) is out of range for a table "
                 "of {} rows: valid ids are 0..{}",
                 p[k], k, shape_str(ids.shape()), V, V - 1);
  Shape out_shape = ids.shape();
  out_shape.push_back(D);
  // index_select records the gradient (index_add into zeros [V, D]); reshape is a view.
  return reshape(index_select(weight, 0, flat), out_shape);
}

}  // namespace signet
