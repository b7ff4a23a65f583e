// The distillation attack transfers the stolen model's accuracy to a fresh model that only saw
// the stolen model's answers, within its query budget.
#include <gtest/gtest.h>

#include "tests/watermark/banded_dataset.h"
#include "watermark/attacks/attacks.h"

namespace signet {
namespace {

Model fresh_mlp(uint64_t seed) {
  ModelConfig mc;
  mc.num_classes = 10;
  mc.input_shape = {1, 28, 28};
  Rng init(seed);
  return build_model("mnist-mlp", mc, init);
}

TrainConfig recipe(int64_t epochs) {
  TrainConfig c;
  c.epochs = epochs;
  c.lr = 0.05f;
  c.progress = false;
  return c;
}

TEST(Distill, StudentLearnsTheStolenModelFromItsAnswersAlone) {
  const Dataset train = test::banded(600, 1), thief = test::banded(400, 2), test_set = test::banded(300, 3);
  const Normalization norm{{0.2f}, {0.3f}};
  Model stolen = fresh_mlp(1);
  train_model(stolen, train, norm, recipe(3));
  const double teacher_acc = evaluate_model(stolen, test_set, norm).accuracy;
  ASSERT_GT(teacher_acc, 0.9);
  for (const std::string answers : {"labels", "scores"}) {
    Model student = fresh_mlp(7);
    const double before = evaluate_model(student, test_set, norm).accuracy;
    LocalModelOracle oracle(clone_model(stolen), norm, "stolen");
    DistillConfig dc;
    dc.answers = answers;
    dc.queries = 250;
    dc.train = recipe(15);
    const DistillReport rep = distill_attack(oracle, student, thief, norm, dc);
    EXPECT_EQ(rep.queries, 250) << answers;  // the budget, not the thief's 400 inputs
    EXPECT_EQ(oracle.queries(), 250) << answers;
    const double after = evaluate_model(student, test_set, norm).accuracy;
    EXPECT_LT(before, 0.3) << answers;
    EXPECT_GT(after, teacher_acc - 0.1) << answers << ": the student did not learn the stolen model";
    EXPECT_GT(rep.agreement, 0.9) << answers;
    ASSERT_EQ(rep.train.epoch_loss.size(), 15u);
    EXPECT_LT(rep.train.epoch_loss.back(), rep.train.epoch_loss.front()) << answers;
  }
}

TEST(Distill, RefusesWhatItCannotDo) {
  const Dataset thief = test::banded(50, 2);
  Model stolen = fresh_mlp(1), student = fresh_mlp(2);
  LocalModelOracle oracle(clone_model(stolen), Normalization{}, "stolen");
  DistillConfig dc;
  dc.answers = "logits";
  EXPECT_THROW(distill_attack(oracle, student, thief, Normalization{}, dc), Error);
  dc.answers = "labels";
  dc.queries = -1;
  EXPECT_THROW(distill_attack(oracle, student, thief, Normalization{}, dc), Error);
  EXPECT_EQ(oracle.queries(), 0);  // checks come before any query
}

}  // namespace
}  // namespace signet
