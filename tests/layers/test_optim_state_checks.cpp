// Optimizer state from a checkpoint (a file someone may have edited): a momentum or Adam moment
// of the wrong shape or dtype is an Error naming the file and the tensor when it is loaded, not
// a failure in the middle of training.
#include <gtest/gtest.h>

#include "layers/optim.h"

using namespace signet;

namespace {
std::string load_error(Optimizer& opt, const NamedTensorList& state) {
  try {
    opt.load_state(state, "ckpt.st");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(OptimStateChecks, WrongShapeOrDtypeIsAnErrorAtLoad) {
  Tensor w = Tensor::zeros({2, 3});
  w.set_requires_grad(true);
  for (const std::string kind : {"sgd", "adam"}) {
    auto opt = make_optimizer(kind, {{"w", w}}, 0.1f, 0.9f, 0.0f, false);
    const std::string key = kind == "sgd" ? "momentum.w" : "exp_avg.w";
    NamedTensorList ok = {{"step", Tensor::from_vector_i64({3}, {1})}};
    ok.emplace_back(key, Tensor::zeros({2, 3}));
    if (kind == "adam") ok.emplace_back("exp_avg_sq.w", Tensor::zeros({2, 3}));
    EXPECT_EQ(load_error(*opt, ok), "") << kind;
    NamedTensorList as_int = ok;
    as_int[1].second = Tensor::zeros({2, 3}, DType::I64);
    EXPECT_EQ(load_error(*opt, as_int), "ckpt.st: optimizer state '" + key + "' is int64, expected float32") << kind;
    NamedTensorList wrong_shape = ok;
    wrong_shape[1].second = Tensor::zeros({3, 2});
    EXPECT_NE(load_error(*opt, wrong_shape).find("has shape [3, 2], expected [2, 3]"), std::string::npos) << kind;
  }
}
