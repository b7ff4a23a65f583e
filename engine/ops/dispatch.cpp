#include "engine/ops/dispatch.h"

namespace signet {

Device backend_for(const char* op, std::initializer_list<Tensor> inputs) {
  const Tensor* first = nullptr;
  for (const Tensor& t : inputs) {
    if (!t.defined()) continue;
    if (!first) {
      first = &t;
    } else {
      SIGNET_CHECK(t.device() == first->device(),
                   "{}: inputs are on different devices ({} and {}); move them explicitly with .to()",
                   op, first->device().str(), t.device().str());
    }
  }
  SIGNET_CHECK(first != nullptr, "{}: called with no defined input", op);
  SIGNET_CHECK(first->device().is_cpu(), "{}: no kernel for device {} in this build", op,
               first->device().str());
  return first->device();
}

}  // namespace signet
