// Convolutions on a GPU through cuDNN (its legacy descriptor API), opened with dlopen the first
// time a GPU convolves, for the reason cublas_gemm.cu gives. NCHW tensors and OIHW filters are
// cuDNN's default layouts, so our tensors go as they are. The arithmetic is float32 (FMA math)
// unless TF32 is asked for (libraries.h). Among the algorithms cuDNN's heuristics propose, the first
// deterministic one is taken (the same run gives the same weights), else its first; the choice
// is kept per geometry. Workspaces come from the device's caching allocator.
#include <cudnn.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "engine/cuda/libraries.h"
#include "engine/cuda/check.cuh"
#include "engine/cuda/shared_library.h"
#include "engine/cuda/runtime.h"
#include "engine/cuda/runtime_backend.h"

namespace signet::cuda {
namespace {

struct CudnnLibrary {
#define SIGNET_CUDNN_FN(name) decltype(&::cudnn##name) name = nullptr;
  SIGNET_CUDNN_FN(Create)
  SIGNET_CUDNN_FN(SetStream)
  SIGNET_CUDNN_FN(GetErrorString)
  SIGNET_CUDNN_FN(CreateTensorDescriptor)
  SIGNET_CUDNN_FN(SetTensor4dDescriptor)
  SIGNET_CUDNN_FN(DestroyTensorDescriptor)
  SIGNET_CUDNN_FN(CreateFilterDescriptor)
  SIGNET_CUDNN_FN(SetFilter4dDescriptor)
  SIGNET_CUDNN_FN(DestroyFilterDescriptor)
  SIGNET_CUDNN_FN(CreateConvolutionDescriptor)
  SIGNET_CUDNN_FN(SetConvolution2dDescriptor)
  SIGNET_CUDNN_FN(SetConvolutionMathType)
  SIGNET_CUDNN_FN(DestroyConvolutionDescriptor)
  SIGNET_CUDNN_FN(GetConvolutionForwardAlgorithm_v7)
  SIGNET_CUDNN_FN(GetConvolutionForwardWorkspaceSize)
  SIGNET_CUDNN_FN(ConvolutionForward)
  SIGNET_CUDNN_FN(GetConvolutionBackwardDataAlgorithm_v7)
  SIGNET_CUDNN_FN(GetConvolutionBackwardDataWorkspaceSize)
  SIGNET_CUDNN_FN(ConvolutionBackwardData)
  SIGNET_CUDNN_FN(GetConvolutionBackwardFilterAlgorithm_v7)
  SIGNET_CUDNN_FN(GetConvolutionBackwardFilterWorkspaceSize)
  SIGNET_CUDNN_FN(ConvolutionBackwardFilter)
  SIGNET_CUDNN_FN(AddTensor)
#undef SIGNET_CUDNN_FN
};

const CudnnLibrary& cudnn() {
  static const CudnnLibrary lib = [] {
    void* h = open_shared_library({fmt::format("libcudnn.so.{}", CUDNN_MAJOR), "libcudnn.so"},
                                  "convolutions on a GPU need cuDNN",
                                  fmt::format("install cuDNN {} or put its lib directory on LD_LIBRARY_PATH", CUDNN_MAJOR));
    CudnnLibrary l;
#define SIGNET_CUDNN_BIND(name) bind_symbol(h, "cuDNN", "cudnn" #name, l.name);
    SIGNET_CUDNN_BIND(Create)
    SIGNET_CUDNN_BIND(SetStream)
    SIGNET_CUDNN_BIND(GetErrorString)
    SIGNET_CUDNN_BIND(CreateTensorDescriptor)
    SIGNET_CUDNN_BIND(SetTensor4dDescriptor)
    SIGNET_CUDNN_BIND(DestroyTensorDescriptor)
    SIGNET_CUDNN_BIND(CreateFilterDescriptor)
    SIGNET_CUDNN_BIND(SetFilter4dDescriptor)
    SIGNET_CUDNN_BIND(DestroyFilterDescriptor)
    SIGNET_CUDNN_BIND(CreateConvolutionDescriptor)
    SIGNET_CUDNN_BIND(SetConvolution2dDescriptor)
    SIGNET_CUDNN_BIND(SetConvolutionMathType)
    SIGNET_CUDNN_BIND(DestroyConvolutionDescriptor)
    SIGNET_CUDNN_BIND(GetConvolutionForwardAlgorithm_v7)
    SIGNET_CUDNN_BIND(GetConvolutionForwardWorkspaceSize)
    SIGNET_CUDNN_BIND(ConvolutionForward)
    SIGNET_CUDNN_BIND(GetConvolutionBackwardDataAlgorithm_v7)
    SIGNET_CUDNN_BIND(GetConvolutionBackwardDataWorkspaceSize)
    SIGNET_CUDNN_BIND(ConvolutionBackwardData)
    SIGNET_CUDNN_BIND(GetConvolutionBackwardFilterAlgorithm_v7)
    SIGNET_CUDNN_BIND(GetConvolutionBackwardFilterWorkspaceSize)
    SIGNET_CUDNN_BIND(ConvolutionBackwardFilter)
    SIGNET_CUDNN_BIND(AddTensor)
#undef SIGNET_CUDNN_BIND
    return l;  // the library stays open for the life of the process
  }();
  return lib;
}

#define SIGNET_CUDNN_CHECK(call)                                                                            \
  do {                                                                                                      \
    const cudnnStatus_t signet_cudnn_st_ = (call);                                                          \
    if (signet_cudnn_st_ != CUDNN_STATUS_SUCCESS)                                                           \
      throw ::signet::Error(::fmt::format("{}:{}: {} failed: {}", __FILE__, __LINE__, #call,                 \
                                          cudnn().GetErrorString(signet_cudnn_st_)));                   \
  } while (0)

// Descriptors, each destroyed with its owner.
#define SIGNET_CUDNN_DESCRIPTOR(Name, T, create, destroy)   \
  class Name {                                               \
   public:                                                   \
    Name() { SIGNET_CUDNN_CHECK(cudnn().create(&d_)); }     \
    ~Name() { cudnn().destroy(d_); }                         \
    Name(const Name&) = delete;                              \
    Name& operator=(const Name&) = delete;                   \
    T get() const { return d_; }                             \
                                                             \
   private:                                                  \
    T d_ = nullptr;                                          \
  };
SIGNET_CUDNN_DESCRIPTOR(TensorDesc, cudnnTensorDescriptor_t, CreateTensorDescriptor, DestroyTensorDescriptor)
SIGNET_CUDNN_DESCRIPTOR(FilterDesc, cudnnFilterDescriptor_t, CreateFilterDescriptor, DestroyFilterDescriptor)
SIGNET_CUDNN_DESCRIPTOR(ConvDesc, cudnnConvolutionDescriptor_t, CreateConvolutionDescriptor,
                        DestroyConvolutionDescriptor)
#undef SIGNET_CUDNN_DESCRIPTOR

int as_int(int64_t v) {
  SIGNET_CHECK(v >= 0 && v <= (int64_t{1} << 31) - 1, "a convolution size {} does not fit cuDNN's int", v);
  return static_cast<int>(v);
}

// A cuDNN handle per device, never destroyed (see cublas_gemm.cu's handles).
cudnnHandle_t handle_of_current_device(int* device) {
  static std::mutex mu;
  static auto* handles = new std::map<int, cudnnHandle_t>();
  SIGNET_CUDA_CHECK(cudaGetDevice(device));
  std::lock_guard<std::mutex> lock(mu);
  cudnnHandle_t& h = (*handles)[*device];
  if (!h) SIGNET_CUDNN_CHECK(cudnn().Create(&h));
  return h;
}

// The descriptors of one convolution.
struct Conv {
  TensorDesc x, y;
  FilterDesc w;
  ConvDesc conv;
  cudnnHandle_t handle = nullptr;
  int device = 0;
  Conv(const ConvGeometry& g, Stream s) {
    const CudnnLibrary& l = cudnn();
    handle = handle_of_current_device(&device);
    SIGNET_CUDNN_CHECK(l.SetStream(handle, static_cast<cudaStream_t>(s ? s : backend::current_stream())));
    SIGNET_CUDNN_CHECK(l.SetTensor4dDescriptor(x.get(), CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, as_int(g.N),
                                                    as_int(g.C), as_int(g.H), as_int(g.W)));
    SIGNET_CUDNN_CHECK(l.SetTensor4dDescriptor(y.get(), CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, as_int(g.N),
                                                    as_int(g.O), as_int(g.Ho), as_int(g.Wo)));
    SIGNET_CUDNN_CHECK(l.SetFilter4dDescriptor(w.get(), CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, as_int(g.O),
                                                    as_int(g.C), as_int(g.kh), as_int(g.kw)));
    SIGNET_CUDNN_CHECK(l.SetConvolution2dDescriptor(conv.get(), as_int(g.ph), as_int(g.pw), as_int(g.sh),
                                                         as_int(g.sw), 1, 1, CUDNN_CROSS_CORRELATION,
                                                         CUDNN_DATA_FLOAT));
    SIGNET_CUDNN_CHECK(l.SetConvolutionMathType(conv.get(), gemm_tf32() ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH));
  }
};

// Device memory for a workspace, back to the cache when done.
struct Workspace {
  Device dev;
  size_t bytes;
  void* p;
  Workspace(int device, size_t n) : dev(Device::cuda(device)), bytes(n), p(n ? device_alloc(dev, n) : nullptr) {}
  ~Workspace() {
    if (p) device_free(dev, p, bytes);
  }
};

// The first deterministic algorithm that cuDNN's heuristics say works, else the first that works.
template <class Perf>
auto pick(const std::vector<Perf>& perf, int n, const char* what) {
  for (int i = 0; i < n; ++i)
    if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].determinism == CUDNN_DETERMINISTIC) return perf[i].algo;
  for (int i = 0; i < n; ++i)
    if (perf[i].status == CUDNN_STATUS_SUCCESS) return perf[i].algo;
  throw Error(fmt::format("cuDNN proposes no working algorithm for the convolution's {}", what));
}

using Key = std::tuple<int, int, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                       int64_t, int64_t, bool>;
Key key_of(int pass, int device, const ConvGeometry& g) {
  return {pass, device, g.N, g.C, g.H, g.W, g.O, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, gemm_tf32()};
}
std::mutex g_algo_mu;
std::map<Key, int> g_algos;  // the chosen algorithm per (pass, device, geometry, math)

template <class Find>
int cached_algo(const Key& k, Find find) {
  {
    std::lock_guard<std::mutex> lock(g_algo_mu);
    if (auto it = g_algos.find(k); it != g_algos.end()) return it->second;
  }
  const int a = find();
  std::lock_guard<std::mutex> lock(g_algo_mu);
  g_algos[k] = a;
  return a;
}

constexpr int kCandidates = 16;

}  // namespace

void cudnn_conv2d_forward(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y,
                          Stream s) {
  const CudnnLibrary& l = cudnn();
  Conv c(g, s);
  const auto algo = static_cast<cudnnConvolutionFwdAlgo_t>(cached_algo(key_of(0, c.device, g), [&] {
    std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(kCandidates);
    int n = 0;
    SIGNET_CUDNN_CHECK(l.GetConvolutionForwardAlgorithm_v7(c.handle, c.x.get(), c.w.get(), c.conv.get(),
                                                                c.y.get(), kCandidates, &n, perf.data()));
    return static_cast<int>(pick(perf, n, "forward pass"));
  }));
  size_t bytes = 0;
  SIGNET_CUDNN_CHECK(l.GetConvolutionForwardWorkspaceSize(c.handle, c.x.get(), c.w.get(), c.conv.get(),
                                                               c.y.get(), algo, &bytes));
  Workspace ws(c.device, bytes);
  const float one = 1.0f, zero = 0.0f;
  SIGNET_CUDNN_CHECK(l.ConvolutionForward(c.handle, &one, c.x.get(), x, c.w.get(), w, c.conv.get(), algo, ws.p,
                                               bytes, &zero, c.y.get(), y));
  if (bias) {
    TensorDesc b;
    SIGNET_CUDNN_CHECK(l.SetTensor4dDescriptor(b.get(), CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, as_int(g.O), 1, 1));
    SIGNET_CUDNN_CHECK(l.AddTensor(c.handle, &one, b.get(), bias, &one, c.y.get(), y));
  }
}

void cudnn_conv2d_backward_input(const ConvGeometry& g, const float* dy, const float* w, float* dx, Stream s) {
  const CudnnLibrary& l = cudnn();
  Conv c(g, s);
  const auto algo = static_cast<cudnnConvolutionBwdDataAlgo_t>(cached_algo(key_of(1, c.device, g), [&] {
    std::vector<cudnnConvolutionBwdDataAlgoPerf_t> perf(kCandidates);
    int n = 0;
    SIGNET_CUDNN_CHECK(l.GetConvolutionBackwardDataAlgorithm_v7(c.handle, c.w.get(), c.y.get(), c.conv.get(),
                                                                     c.x.get(), kCandidates, &n, perf.data()));
    return static_cast<int>(pick(perf, n, "input gradient"));
  }));
  size_t bytes = 0;
  SIGNET_CUDNN_CHECK(l.GetConvolutionBackwardDataWorkspaceSize(c.handle, c.w.get(), c.y.get(), c.conv.get(),
                                                                    c.x.get(), algo, &bytes));
  Workspace ws(c.device, bytes);
  const float one = 1.0f, zero = 0.0f;
  SIGNET_CUDNN_CHECK(l.ConvolutionBackwardData(c.handle, &one, c.w.get(), w, c.y.get(), dy, c.conv.get(), algo,
                                                    ws.p, bytes, &zero, c.x.get(), dx));
}

void cudnn_conv2d_backward_weight(const ConvGeometry& g, const float* dy, const float* x, float* dw, Stream s) {
  const CudnnLibrary& l = cudnn();
  Conv c(g, s);
  const auto algo = static_cast<cudnnConvolutionBwdFilterAlgo_t>(cached_algo(key_of(2, c.device, g), [&] {
    std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> perf(kCandidates);
    int n = 0;
    SIGNET_CUDNN_CHECK(l.GetConvolutionBackwardFilterAlgorithm_v7(c.handle, c.x.get(), c.y.get(), c.conv.get(),
                                                                       c.w.get(), kCandidates, &n, perf.data()));
    return static_cast<int>(pick(perf, n, "weight gradient"));
  }));
  size_t bytes = 0;
  SIGNET_CUDNN_CHECK(l.GetConvolutionBackwardFilterWorkspaceSize(c.handle, c.x.get(), c.y.get(), c.conv.get(),
                                                                      c.w.get(), algo, &bytes));
  Workspace ws(c.device, bytes);
  const float one = 1.0f, zero = 0.0f;
  SIGNET_CUDNN_CHECK(l.ConvolutionBackwardFilter(c.handle, &one, c.x.get(), x, c.y.get(), dy, c.conv.get(), algo,
                                                      ws.p, bytes, &zero, c.w.get(), dw));
}

}  // namespace signet::cuda
