// Tensor: an n-dimensional view (shape, strides, element offset) of shared Storage.
//
// Copies of a Tensor are shallow: they share the same TensorImpl (and so the same data and the
// same autograd identity). Views (reshape of a contiguous tensor, transpose, narrow, expand)
// share the Storage but have their own TensorImpl. clone() copies the data.
//
// dtypes: float32 (values, parameters) and int64 (labels, indices).
// Autograd: a tensor with requires_grad() is either a leaf (a parameter: gradients accumulate
// into grad()) or the output of an op (grad_fn() is the Node that computes its inputs'
// gradients). See engine/autograd.h.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/device.h"
#include "engine/error.h"

namespace signet {

enum class DType : uint8_t { F32, I64 };
size_t dtype_size(DType t);
const char* dtype_name(DType t);  // "float32", "int64"

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& s);  // "[128, 784]"
// Product of the dims. Error (never a wrapped product) for a negative dim or when the product
// of the non-zero dims overflows int64, so every contiguous stride of the shape fits too.
int64_t shape_numel(const Shape& s);
Shape contiguous_strides(const Shape& s);

// Limits for shapes that come from outside (flags, model files, keys, data sets): a shape that
// is valid but absurd is refused before anything is allocated for it.
//   kMaxTensorElements: one tensor, 2^32 elements (16 GiB of float32). Tensor::empty enforces
//     it for every tensor, so no product of dims reaches an allocation unchecked.
//   kMaxSampleElements: one input sample (C*H*W, or tokens per sequence), 2^24 elements
//     (64 MiB of float32, e.g. 4x2048x2048).
constexpr int64_t kMaxTensorElements = int64_t{1} << 32;
constexpr int64_t kMaxSampleElements = int64_t{1} << 24;
// shape_numel(s), or an Error naming `what` (a flag, a tensor, a file's field) when a dim is
// negative, the product overflows, or it exceeds `limit` (stated in the message).
int64_t checked_numel(const Shape& s, const std::string& what, int64_t limit = kMaxTensorElements);
// a * b for sizes from outside, or an Error naming `what` when it overflows or exceeds limit.
int64_t checked_mul(int64_t a, int64_t b, const std::string& what, int64_t limit = kMaxTensorElements);

// A block of raw memory on one device, 64-byte aligned. Freed when the last view goes away.
class Storage {
 public:
  Storage(size_t nbytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  Device device_;
};

struct Node;  // engine/autograd.h

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape, strides;
  int64_t offset = 0;  // in elements
  DType dtype = DType::F32;
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;  // accumulated gradient of a leaf (undefined until set)
  std::shared_ptr<Node> grad_fn;     // null for leaves and constants
  std::string name;                  // optional, for error messages
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- factories (CPU unless a device is given) ----
  static Tensor empty(const Shape& shape, DType dtype = DType::F32, Device dev = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype = DType::F32, Device dev = Device::cpu());
  static Tensor ones(const Shape& shape, Device dev = Device::cpu());
  static Tensor full(const Shape& shape, float value, Device dev = Device::cpu());
  static Tensor scalar(float value);  // shape []
  static Tensor from_vector(const std::vector<float>& v, const Shape& shape);
  static Tensor from_vector_i64(const std::vector<int64_t>& v, const Shape& shape);
  static Tensor arange_i64(int64_t n);

  // ---- metadata ----
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl()->shape; }
  const Shape& strides() const { return impl()->strides; }
  int64_t offset() const { return impl()->offset; }
  int64_t dim() const { return static_cast<int64_t>(impl()->shape.size()); }
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t numel() const { return shape_numel(impl()->shape); }
  DType dtype() const { return impl()->dtype; }
  Device device() const { return impl()->storage->device(); }
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const { return impl()->storage; }
  TensorImpl* impl() const;  // throws Error on an undefined tensor
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool same(const Tensor& o) const { return impl_ == o.impl_; }

  // ---- data access (CPU). The pointer is at the first element, honouring offset. ----
  template <class T> T* data() const;
  // The data pointer of a tensor on any device, for that device's kernels (engine/cuda/); the
  // host may dereference it only when the tensor is on the CPU.
  float* device_f32() const;
  int64_t* device_i64() const;
  float* f32() const;
  int64_t* i64() const;
  float item() const;  // one-element float tensor -> value
  std::vector<float> to_vector() const;  // row-major copy, any strides
  std::vector<int64_t> to_vector_i64() const;

  // ---- copies and views (not recorded by autograd: see engine/ops/shape.h for those) ----
  Tensor contiguous() const;  // this, if already contiguous; else a packed copy
  Tensor clone() const;       // always a packed copy, no autograd history
  Tensor detach() const;      // same storage, no autograd history
  Tensor to(Device dev) const;
  void copy_(const Tensor& src);  // element-wise copy, same shape and dtype, any strides
  void fill_(float value);
  Tensor view_as_shape(const Shape& shape) const;  // raw reshape of a contiguous tensor
  Tensor transpose_view(int64_t d0, int64_t d1) const;
  Tensor narrow_view(int64_t dim, int64_t start, int64_t length) const;
  Tensor expand_view(const Shape& shape) const;  // stride 0 on broadcast dims

  // ---- autograd ----
  bool requires_grad() const { return impl()->requires_grad; }
  Tensor& set_requires_grad(bool r);
  Tensor grad() const { return Tensor(impl()->grad); }
  void set_grad(const Tensor& g) { impl()->grad = g.impl_; }
  void zero_grad() { impl()->grad.reset(); }
  const std::shared_ptr<Node>& grad_fn() const { return impl()->grad_fn; }
  bool is_leaf() const { return impl()->grad_fn == nullptr; }
  // Back-propagates from this tensor. A non-scalar needs an explicit gradient. With
  // create_graph the gradient computation itself is recorded (double backward).
  void backward(const Tensor& grad = Tensor(), bool create_graph = false) const;

  std::string str() const;  // "Tensor(float32, [2, 3], cpu)"

 private:
  std::shared_ptr<TensorImpl> impl_;
};

// The op being run on this thread (its dispatch point or its backward sets it), so that host
// access to a device tensor's data can name the op that asked; null outside any op.
const char* current_op();
class CurrentOp {
 public:
  explicit CurrentOp(const char* name);
  ~CurrentOp();
  CurrentOp(const CurrentOp&) = delete;
  CurrentOp& operator=(const CurrentOp&) = delete;

 private:
  const char* before_;
};

template <> float* Tensor::data<float>() const;
template <> int64_t* Tensor::data<int64_t>() const;
inline float* Tensor::f32() const { return data<float>(); }
inline int64_t* Tensor::i64() const { return data<int64_t>(); }

// Visits every element offset (in elements, relative to storage start) of a strided tensor in
// row-major order. Used by the generic copy and by plain-loop references.
template <class F>
void for_each_offset(const Shape& shape, const Shape& strides, int64_t offset, F&& f) {
  const int64_t n = shape_numel(shape);
  const size_t nd = shape.size();
  std::vector<int64_t> idx(nd, 0);
  int64_t off = offset;
  for (int64_t i = 0; i < n; ++i) {
    f(off);
    for (size_t d = nd; d-- > 0;) {
      if (++idx[d] < shape[d]) { off += strides[d]; break; }
      off -= strides[d] * (shape[d] - 1);
      idx[d] = 0;
    }
  }
}

}  // namespace signet
