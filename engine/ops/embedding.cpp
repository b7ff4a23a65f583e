#include "engine/ops/embedding.h"

#include "engine/autograd.h"
#include "engine/cuda/runtime.h"
#include "engine/ops/dispatch.h"
#include "engine/ops/index.h"
#include "engine/ops/shape.h"

namespace signet {

namespace {
std::string bad_id_message(int64_t id, int64_t k, const Tensor& ids, int64_t V) {
  return fmt::format("embedding: id {} (at flat position {} of ids {}) is out of range for a table of {} rows: valid "
                     "ids are 0..{}", id, k, shape_str(ids.shape()), V, V - 1);
}

// The device path: our gather kernel, which flags a bad id instead of reading it (one
// synchronising read of one word names it as the CPU does), and its scatter-add as the gradient.
Tensor embedding_cuda(const Tensor& weight, const Tensor& ids_any, int64_t V, int64_t D) {
  require_contiguous_on_device("embedding", weight);
  const Tensor ids = ids_any.contiguous();
  const Device dev = weight.device();
  const int64_t P = ids.numel();
  Tensor out = Tensor::empty({P, D}, DType::F32, dev);
  Tensor bad = Tensor::zeros({1}, DType::I64, dev);
  cuda::kernels(dev).embedding_gather(weight.device_f32(), ids.device_i64(), out.device_f32(), P, D, V,
                                      reinterpret_cast<unsigned long long*>(bad.device_i64()), nullptr);
  if (const int64_t flag = bad.to(Device::cpu()).i64()[0]; flag != 0) {
    const int64_t k = P - flag;
    throw Error(bad_id_message(ids.to(Device::cpu()).contiguous().view_as_shape({P}).i64()[k], k, ids, V));
  }
  if (needs_grad({weight})) {
    record(out, "embedding", {weight}, [ids, V, D, P](const Tensor& g) {
      const Tensor gc = g.contiguous();
      Tensor gw = Tensor::zeros({V, D}, DType::F32, g.device());
      cuda::kernels(g.device()).embedding_scatter_add(gc.device_f32(), ids.device_i64(), gw.device_f32(), P, D, V,
                                                      nullptr);
      return std::vector<Tensor>{gw};
    });
  }
  Shape out_shape = ids.shape();
  out_shape.push_back(D);
  return reshape(out, out_shape);
}
}  // namespace

Tensor embedding(const Tensor& weight, const Tensor& ids) {
  SIGNET_DISPATCH_CPU_OR_CUDA("embedding", {weight, ids});
  SIGNET_CHECK(weight.dim() == 2 && weight.dtype() == DType::F32,
               "embedding: the weight must be a 2-d float32 table [num_embeddings, dim], got {}",
               weight.str());
  SIGNET_CHECK(ids.dtype() == DType::I64,
               "embedding: ids must be an int64 tensor of token indices, got {} (convert the "
               "token ids to int64)", ids.str());
  const int64_t V = weight.size(0), D = weight.size(1);
  if (weight.device().is_cuda()) return embedding_cuda(weight, ids, V, D);
  const Tensor flat = ids.contiguous().view_as_shape({ids.numel()});
  const int64_t bad = cpu::first_outside(flat.i64(), flat.numel(), V);
  SIGNET_CHECK(bad < 0, "{}", bad < 0 ? std::string() : bad_id_message(flat.i64()[bad], bad, ids, V));
  Shape out_shape = ids.shape();
  out_shape.push_back(D);
  // index_select records the gradient (index_add into zeros [V, D]); reshape is a view.
  return reshape(index_select(weight, 0, flat), out_shape);
}

}  // namespace signet
