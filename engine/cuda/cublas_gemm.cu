// GEMM on a GPU through cuBLAS. The library is opened (dlopen) the first time a GPU multiplies,
// not linked: every signet process would otherwise load cuBLAS at start, and a machine whose
// toolkit lacks it could not run even CPU commands. A missing library is an Error saying so.
//
// cuBLAS is column-major and our tensors row-major. A row-major [M, N] matrix is the column-major
// [N, M] matrix of its transpose, so C = op(A) op(B) is computed as C^T = op(B)^T op(A)^T: the
// operands swap places and M and N swap, the transpose flags and leading dimensions stay.
// TF32 tensor-core math only when asked (SIGNET_TF32=1 in the environment, or set_gemm_tf32):
// float32 results by default.
#include <cublas_v2.h>

#include <atomic>
#include <cstdlib>
#include <string>
#include <limits>
#include <map>
#include <memory>
#include <mutex>

#include "engine/cuda/libraries.h"
#include "engine/cuda/check.cuh"
#include "engine/cuda/runtime_backend.h"
#include "engine/cuda/shared_library.h"

namespace signet::cuda {
namespace {

struct CublasLibrary {
  decltype(&cublasCreate_v2) create = nullptr;
  decltype(&cublasDestroy_v2) destroy = nullptr;
  decltype(&cublasSetStream_v2) set_stream = nullptr;
  decltype(&cublasSetMathMode) set_math_mode = nullptr;
  decltype(&cublasSgemm_v2) sgemm = nullptr;
  decltype(&cublasGetStatusString) status_string = nullptr;
};

const CublasLibrary& cublas() {
  static const CublasLibrary lib = [] {
    void* h = open_shared_library({fmt::format("libcublas.so.{}", CUBLAS_VER_MAJOR), "libcublas.so"},
                                  "matrix products on a GPU need cuBLAS",
                                  "install the CUDA toolkit's cuBLAS or put its lib directory on LD_LIBRARY_PATH");
    CublasLibrary l;
    bind_symbol(h, "cuBLAS", "cublasCreate_v2", l.create);
    bind_symbol(h, "cuBLAS", "cublasDestroy_v2", l.destroy);
    bind_symbol(h, "cuBLAS", "cublasSetStream_v2", l.set_stream);
    bind_symbol(h, "cuBLAS", "cublasSetMathMode", l.set_math_mode);
    bind_symbol(h, "cuBLAS", "cublasSgemm_v2", l.sgemm);
    bind_symbol(h, "cuBLAS", "cublasGetStatusString", l.status_string);
    return l;  // the library stays open for the life of the process
  }();
  return lib;
}

#define SIGNET_CUBLAS_CHECK(call)                                                                          \
  do {                                                                                                     \
    const cublasStatus_t signet_cublas_st_ = (call);                                                       \
    if (signet_cublas_st_ != CUBLAS_STATUS_SUCCESS)                                                        \
      throw ::signet::Error(::fmt::format("{}:{}: {} failed: {}", __FILE__, __LINE__, #call,                \
                                          cublas().status_string(signet_cublas_st_)));                      \
  } while (0)

// One cuBLAS handle, destroyed with its owner.
class CublasHandle {
 public:
  CublasHandle() { SIGNET_CUBLAS_CHECK(cublas().create(&h_)); }
  ~CublasHandle() { cublas().destroy(h_); }
  CublasHandle(const CublasHandle&) = delete;
  CublasHandle& operator=(const CublasHandle&) = delete;
  cublasHandle_t get() const { return h_; }

 private:
  cublasHandle_t h_ = nullptr;
};

// A handle per device (cuBLAS handles belong to the device current when made). The map is never
// destroyed: at exit the runtime may tear contexts down first, and a handle must not outlive its.
CublasHandle& handle_of_current_device() {
  static std::mutex mu;
  static auto* handles = new std::map<int, std::unique_ptr<CublasHandle>>();
  int dev = 0;
  SIGNET_CUDA_CHECK(cudaGetDevice(&dev));
  std::lock_guard<std::mutex> lock(mu);
  auto& h = (*handles)[dev];
  if (!h) h = std::make_unique<CublasHandle>();
  return *h;
}

std::atomic<bool> g_tf32{[] {
  const char* v = std::getenv("SIGNET_TF32");
  return v != nullptr && std::string(v) == "1";
}()};

int as_int(int64_t v, const char* what) {
  SIGNET_CHECK(v >= 0 && v <= std::numeric_limits<int>::max(), "gemm on a GPU: {} = {} does not fit cuBLAS's int",
               what, v);
  return static_cast<int>(v);
}

}  // namespace

void set_gemm_tf32(bool allow) { g_tf32 = allow; }
bool gemm_tf32() { return g_tf32; }

void cublas_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                 const float* B, int64_t ldb, float beta, float* C, int64_t ldc, Stream s) {
  if (M == 0 || N == 0) return;
  const cublasHandle_t h = handle_of_current_device().get();
  SIGNET_CUBLAS_CHECK(cublas().set_stream(h, static_cast<cudaStream_t>(s ? s : backend::current_stream())));
  SIGNET_CUBLAS_CHECK(cublas().set_math_mode(h, g_tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
  SIGNET_CUBLAS_CHECK(cublas().sgemm(h, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                                     as_int(N, "N"), as_int(M, "M"), as_int(K, "K"), &alpha, B, as_int(ldb, "ldb"), A,
                                     as_int(lda, "lda"), &beta, C, as_int(ldc, "ldc")));
}

}  // namespace signet::cuda
