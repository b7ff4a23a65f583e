#include "engine/tensor.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <vector>

#include "engine/autograd.h"
#include "engine/cpu/denormals.h"
#include "engine/cpu_allocator.h"
#include "engine/cuda/runtime.h"

namespace signet {

// Before main(), so that every thread the process starts inherits it (engine/cpu/denormals.h).
[[maybe_unused]] static const bool g_denormals_flushed = cpu::flush_denormals();

Device parse_device(const std::string& s) {
  if (s == "cpu") return Device::cpu();
  if (s == "cuda") return Device::cuda(0);
  if (s.rfind("cuda:", 0) == 0) {
    const std::string n = s.substr(5);
    SIGNET_CHECK(!n.empty() && n.find_first_not_of("0123456789") == std::string::npos,
                 "bad device '{}': expected cpu, cuda or cuda:N", s);
    return Device::cuda(std::stoi(n));
  }
  throw Error(fmt::format("bad device '{}': expected cpu, cuda or cuda:N", s));
}

size_t dtype_size(DType t) { return t == DType::F32 ? 4 : 8; }
const char* dtype_name(DType t) { return t == DType::F32 ? "float32" : "int64"; }

std::string shape_str(const Shape& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

int64_t shape_numel(const Shape& s) {
  int64_t nonzero = 1;  // the product of the non-zero dims bounds every stride
  bool empty = false;
  for (int64_t d : s) {
    SIGNET_CHECK(d >= 0, "negative dimension in shape {}", shape_str(s));
    if (d == 0) empty = true;
    else SIGNET_CHECK(!__builtin_mul_overflow(nonzero, d, &nonzero), "shape {} has more elements than fit in int64",
                      shape_str(s));
  }
  return empty ? 0 : nonzero;
}

int64_t checked_numel(const Shape& s, const std::string& what, int64_t limit) {
  for (int64_t d : s) SIGNET_CHECK(d >= 0, "{}: negative dimension in shape {}", what, shape_str(s));
  int64_t nonzero = 1;
  for (int64_t d : s)
    SIGNET_CHECK(d == 0 || (!__builtin_mul_overflow(nonzero, d, &nonzero) && nonzero <= limit),
                 "{}: shape {} has more than {} elements, the limit for {}", what, shape_str(s), limit,
                 limit == kMaxSampleElements ? "one input sample" : "one tensor");
  return shape_numel(s);
}

int64_t checked_mul(int64_t a, int64_t b, const std::string& what, int64_t limit) {
  SIGNET_CHECK(a >= 0 && b >= 0, "{}: negative size ({} x {})", what, a, b);
  int64_t r = 0;
  SIGNET_CHECK(!__builtin_mul_overflow(a, b, &r) && r <= limit, "{}: {} x {} elements is more than {}, the limit for {}",
               what, a, b, limit, limit == kMaxSampleElements ? "one input sample" : "one tensor");
  return r;
}

Shape contiguous_strides(const Shape& s) {
  Shape st(s.size());
  int64_t acc = 1;
  for (size_t i = s.size(); i-- > 0;) {
    st[i] = acc;
    acc *= s[i];
  }
  return st;
}

// ---------------------------------------------------------------- Storage
Storage::Storage(size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  if (device.is_cuda()) {
    data_ = cuda::device_alloc(device, nbytes);
    return;
  }
  try {
    data_ = cpu_alloc(nbytes);
  } catch (const std::bad_alloc&) {
    throw Error(fmt::format("out of memory allocating {} bytes", nbytes));
  }
}

Storage::~Storage() {
  if (device_.is_cuda())
    cuda::device_free(device_, data_, nbytes_);
  else
    cpu_free(data_, nbytes_);
}

// ---------------------------------------------------------------- factories
Tensor Tensor::empty(const Shape& shape, DType dtype, Device dev) {
  const int64_t n = shape_numel(shape);
  SIGNET_CHECK(n <= kMaxTensorElements, "cannot allocate a tensor of shape {}: {} elements is more than {}, the "
               "limit for one tensor", shape_str(shape), n, kMaxTensorElements);
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(static_cast<size_t>(n) * dtype_size(dtype), dev);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device dev) {
  Tensor t = empty(shape, dtype, dev);
  if (dev.is_cuda())
    t.fill_(0.0f);
  else
    std::memset(t.storage()->data(), 0, t.numel() * dtype_size(dtype));
  return t;
}

Tensor Tensor::ones(const Shape& shape, Device dev) { return full(shape, 1.0f, dev); }

Tensor Tensor::full(const Shape& shape, float value, Device dev) {
  Tensor t = empty(shape, DType::F32, dev);
  t.fill_(value);
  return t;
}

Tensor Tensor::scalar(float value) { return full({}, value); }

Tensor Tensor::from_vector(const std::vector<float>& v, const Shape& shape) {
  SIGNET_CHECK(static_cast<int64_t>(v.size()) == shape_numel(shape),
               "from_vector: {} values do not fill shape {}", v.size(), shape_str(shape));
  Tensor t = empty(shape);
  if (!v.empty()) std::memcpy(t.f32(), v.data(), v.size() * sizeof(float));
  return t;
}

Tensor Tensor::from_vector_i64(const std::vector<int64_t>& v, const Shape& shape) {
  SIGNET_CHECK(static_cast<int64_t>(v.size()) == shape_numel(shape),
               "from_vector_i64: {} values do not fill shape {}", v.size(), shape_str(shape));
  Tensor t = empty(shape, DType::I64);
  if (!v.empty()) std::memcpy(t.i64(), v.data(), v.size() * sizeof(int64_t));
  return t;
}

Tensor Tensor::arange_i64(int64_t n) {
  Tensor t = empty({n}, DType::I64);
  for (int64_t i = 0; i < n; ++i) t.i64()[i] = i;
  return t;
}

// ---------------------------------------------------------------- metadata
TensorImpl* Tensor::impl() const {
  SIGNET_CHECK(impl_ != nullptr, "use of an undefined tensor");
  return impl_.get();
}

int64_t Tensor::size(int64_t d) const {
  const int64_t n = dim();
  if (d < 0) d += n;
  SIGNET_CHECK(d >= 0 && d < n, "dimension {} out of range for a {}-d tensor", d, n);
  return impl()->shape[d];
}

bool Tensor::is_contiguous() const {
  const auto& sh = shape();
  const auto& st = strides();
  int64_t expect = 1;
  for (size_t i = sh.size(); i-- > 0;) {
    if (sh[i] != 1 && st[i] != expect) return false;
    expect *= sh[i];
  }
  return true;
}

namespace {
thread_local const char* t_current_op = nullptr;

void require_host_data(const Device& d) {
  SIGNET_CHECK(d.is_cpu(), "{}host code asked for the data of a tensor on {}: only CPU tensors can be read on the "
               "host; move it with .to(Device::cpu())",
               t_current_op ? fmt::format("{}: ", t_current_op) : std::string(), d.str());
}
}  // namespace

const char* current_op() { return t_current_op; }
CurrentOp::CurrentOp(const char* name) : before_(t_current_op) { t_current_op = name; }
CurrentOp::~CurrentOp() { t_current_op = before_; }

template <>
float* Tensor::data<float>() const {
  SIGNET_CHECK(dtype() == DType::F32, "expected a float32 tensor, got {}", dtype_name(dtype()));
  require_host_data(device());
  return static_cast<float*>(storage()->data()) + offset();
}

template <>
int64_t* Tensor::data<int64_t>() const {
  SIGNET_CHECK(dtype() == DType::I64, "expected an int64 tensor, got {}", dtype_name(dtype()));
  require_host_data(device());
  return static_cast<int64_t*>(storage()->data()) + offset();
}

float* Tensor::device_f32() const {
  SIGNET_CHECK(dtype() == DType::F32, "expected a float32 tensor, got {}", dtype_name(dtype()));
  return static_cast<float*>(storage()->data()) + offset();
}

int64_t* Tensor::device_i64() const {
  SIGNET_CHECK(dtype() == DType::I64, "expected an int64 tensor, got {}", dtype_name(dtype()));
  return static_cast<int64_t*>(storage()->data()) + offset();
}

float Tensor::item() const {
  SIGNET_CHECK(numel() == 1, "item() needs a one-element tensor, got shape {}", shape_str(shape()));
  if (!device().is_cpu()) return to(Device::cpu()).item();  // waits for the device's work
  if (dtype() == DType::I64) return static_cast<float>(*i64());
  return *f32();
}

std::vector<float> Tensor::to_vector() const {
  Tensor c = device().is_cpu() ? contiguous() : to(Device::cpu());
  return std::vector<float>(c.f32(), c.f32() + c.numel());
}

std::vector<int64_t> Tensor::to_vector_i64() const {
  Tensor c = device().is_cpu() ? contiguous() : to(Device::cpu());
  return std::vector<int64_t>(c.i64(), c.i64() + c.numel());
}

// ---------------------------------------------------------------- copies and views
Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), dtype(), device());
  out.copy_(*this);
  return out;
}

Tensor Tensor::detach() const {
  auto copy = std::make_shared<TensorImpl>(*impl());
  copy->grad_fn.reset();
  copy->grad.reset();
  copy->requires_grad = false;
  return Tensor(std::move(copy));
}

Tensor Tensor::to(Device dev) const {
  if (dev == device()) return *this;
  const Tensor src = contiguous();  // on this tensor's device
  Tensor out = empty(shape(), dtype(), dev);
  const size_t es = dtype_size(dtype());
  cuda::copy_bytes(out.storage()->data(), dev, static_cast<const char*>(src.storage()->data()) + src.offset() * es,
                   device(), static_cast<size_t>(numel()) * es);
  return out;
}

namespace {
// src (any strides) into a contiguous destination of its shape, one row of the last dim at a
// time: a run (stride 1) is one memcpy, a broadcast row (stride 0) a fill. Elements are moved
// as raw bits of their size.
template <class Bits>
void copy_rows_into_contiguous(const Tensor& src, const char* src_base, char* dst) {
  const int64_t nd = src.dim(), inner = src.shape()[nd - 1], inner_stride = src.strides()[nd - 1];
  const int64_t outer = src.numel() / inner;
  const Bits* from = reinterpret_cast<const Bits*>(src_base);
  Bits* to = reinterpret_cast<Bits*>(dst);
  std::vector<int64_t> index(static_cast<size_t>(nd), 0);
  int64_t at = src.offset();
  for (int64_t row = 0; row < outer; ++row, to += inner) {
    if (inner_stride == 1)
      std::memcpy(to, from + at, static_cast<size_t>(inner) * sizeof(Bits));
    else if (inner_stride == 0)
      std::fill(to, to + inner, from[at]);
    else
      for (int64_t i = 0; i < inner; ++i) to[i] = from[at + i * inner_stride];
    for (int64_t d = nd - 2; d >= 0; --d) {  // the next row: an odometer over the outer dims
      at += src.strides()[d];
      if (++index[d] < src.shape()[d]) break;
      at -= src.strides()[d] * src.shape()[d];
      index[d] = 0;
    }
  }
}
}  // namespace

void Tensor::copy_(const Tensor& src) {
  SIGNET_CHECK(src.shape() == shape(), "copy_: shape {} into {}", shape_str(src.shape()),
               shape_str(shape()));
  SIGNET_CHECK(src.dtype() == dtype(), "copy_: dtype {} into {}", dtype_name(src.dtype()),
               dtype_name(dtype()));
  const size_t es = dtype_size(dtype());
  if (device().is_cuda() && src.device() == device() && !(is_contiguous() && src.is_contiguous())) {
    // Strided on this device: our copy kernel reads and writes through the strides.
    SIGNET_CHECK(src.dim() <= cuda_kernels::kMaxDims, "copy_: {} dims, more than a device copy takes ({})", src.dim(),
                 cuda_kernels::kMaxDims);
    cuda_kernels::BroadcastShape s;
    s.ndim = static_cast<int>(src.dim());
    for (int64_t d = 0; d < src.dim(); ++d)
      s.sizes[d] = src.shape()[d], s.a_strides[d] = src.strides()[d], s.b_strides[d] = strides()[d];
    const cuda::KernelTable& k = cuda::kernels(device());
    if (dtype() == DType::F32)
      k.strided_copy_f32(src.device_f32(), device_f32(), s, nullptr);
    else
      k.strided_copy_i64(src.device_i64(), device_i64(), s, nullptr);
    return;
  }
  if (!device().is_cpu() || !src.device().is_cpu()) {
    SIGNET_CHECK(is_contiguous() && src.is_contiguous(),
                 "copy_: {} into {}: a strided copy between devices; make it contiguous on its device first",
                 src.device().str(), device().str());
    cuda::copy_bytes(static_cast<char*>(storage()->data()) + offset() * es, device(),
                     static_cast<const char*>(src.storage()->data()) + src.offset() * es, src.device(),
                     static_cast<size_t>(numel()) * es);
    return;
  }
  char* dst_base = static_cast<char*>(storage()->data());
  const char* src_base = static_cast<const char*>(src.storage()->data());
  if (is_contiguous() && src.is_contiguous()) {
    std::memmove(dst_base + offset() * es, src_base + src.offset() * es, numel() * es);
    return;
  }
  if (is_contiguous() && src.dim() > 0 && numel() > 0) {  // e.g. contiguous(): row by row
    if (es == 4)
      copy_rows_into_contiguous<uint32_t>(src, src_base, dst_base + offset() * es);
    else
      copy_rows_into_contiguous<uint64_t>(src, src_base, dst_base + offset() * es);
    return;
  }
  // Strided: walk both in row-major order.
  std::vector<int64_t> src_offsets;
  src_offsets.reserve(numel());
  for_each_offset(src.shape(), src.strides(), src.offset(),
                  [&](int64_t o) { src_offsets.push_back(o); });
  size_t i = 0;
  for_each_offset(shape(), strides(), offset(), [&](int64_t o) {
    std::memcpy(dst_base + o * es, src_base + src_offsets[i++] * es, es);
  });
}

void Tensor::fill_(float value) {
  SIGNET_CHECK(is_contiguous(), "fill_ needs a contiguous tensor");
  if (device().is_cuda()) {
    const cuda::KernelTable& k = cuda::kernels(device());
    if (dtype() == DType::F32)
      k.fill_f32(device_f32(), value, numel(), nullptr);
    else
      k.fill_i64(device_i64(), static_cast<int64_t>(value), numel(), nullptr);
    return;
  }
  if (dtype() == DType::F32) {
    float* p = f32();
    for (int64_t i = 0, n = numel(); i < n; ++i) p[i] = value;
  } else {
    int64_t* p = i64();
    for (int64_t i = 0, n = numel(); i < n; ++i) p[i] = static_cast<int64_t>(value);
  }
}

Tensor Tensor::view_as_shape(const Shape& new_shape) const {
  SIGNET_CHECK(shape_numel(new_shape) == numel(), "cannot reshape {} into {}", shape_str(shape()),
               shape_str(new_shape));
  SIGNET_CHECK(is_contiguous(), "view_as_shape needs a contiguous tensor");
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = storage();
  impl->shape = new_shape;
  impl->strides = contiguous_strides(new_shape);
  impl->offset = offset();
  impl->dtype = dtype();
  return Tensor(std::move(impl));
}

Tensor Tensor::transpose_view(int64_t d0, int64_t d1) const {
  const int64_t n = dim();
  if (d0 < 0) d0 += n;
  if (d1 < 0) d1 += n;
  SIGNET_CHECK(d0 >= 0 && d0 < n && d1 >= 0 && d1 < n, "transpose({}, {}) of a {}-d tensor", d0,
               d1, n);
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = storage();
  impl->shape = shape();
  impl->strides = strides();
  std::swap(impl->shape[d0], impl->shape[d1]);
  std::swap(impl->strides[d0], impl->strides[d1]);
  impl->offset = offset();
  impl->dtype = dtype();
  return Tensor(std::move(impl));
}

Tensor Tensor::narrow_view(int64_t d, int64_t start, int64_t length) const {
  const int64_t n = dim();
  if (d < 0) d += n;
  SIGNET_CHECK(d >= 0 && d < n, "narrow: dimension {} of a {}-d tensor", d, n);
  SIGNET_CHECK(start >= 0 && length >= 0 && start + length <= shape()[d],
               "narrow: [{}, {}) is outside dimension {} of size {}", start, start + length, d,
               shape()[d]);
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = storage();
  impl->shape = shape();
  impl->shape[d] = length;
  impl->strides = strides();
  impl->offset = offset() + start * strides()[d];
  impl->dtype = dtype();
  return Tensor(std::move(impl));
}

Tensor Tensor::expand_view(const Shape& target) const {
  const int64_t n = dim();
  const int64_t m = static_cast<int64_t>(target.size());
  SIGNET_CHECK(m >= n, "cannot expand {} to {}", shape_str(shape()), shape_str(target));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = storage();
  impl->shape = target;
  impl->strides.assign(m, 0);
  for (int64_t i = 0; i < m; ++i) {
    const int64_t j = i - (m - n);
    if (j < 0) continue;
    if (shape()[j] == target[i]) {
      impl->strides[i] = strides()[j];
    } else {
      SIGNET_CHECK(shape()[j] == 1, "cannot expand {} to {}", shape_str(shape()),
                   shape_str(target));
    }
  }
  impl->offset = offset();
  impl->dtype = dtype();
  return Tensor(std::move(impl));
}

// ---------------------------------------------------------------- autograd glue
Tensor& Tensor::set_requires_grad(bool r) {
  SIGNET_CHECK(!r || dtype() == DType::F32, "only float32 tensors can require gradients");
  impl()->requires_grad = r;
  return *this;
}

void Tensor::backward(const Tensor& grad, bool create_graph) const {
  run_backward(*this, grad, create_graph);
}

std::string Tensor::str() const {
  if (!defined()) return "Tensor(undefined)";
  return fmt::format("Tensor({}, {}, {})", dtype_name(dtype()), shape_str(shape()),
                     device().str());
}

}  // namespace signet
