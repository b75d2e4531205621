#include "mmfuse/train/losses.h"

#include <gtest/gtest.h>

#include <cmath>

namespace mmfuse::train {
namespace {

TEST(Losses, CrossEntropySkipsUnknownTargets) {
  LossOptions o;
  auto logits = torch::tensor({{0.0, 0.0}, {std::log(3.0), 0.0}, {5.0, -5.0}}, torch::kDouble);
  // sample 0: p = 1/2 -> ln 2; sample 1: p(class 0) = 3/4 -> -ln(3/4); sample 2 unknown.
  auto loss = task_loss(o, logits, torch::tensor({1, 0, -1}));
  EXPECT_NEAR(loss.item<double>(), (std::log(2.0) - std::log(0.75)) / 2.0, 1e-12);
}

TEST(Losses, LabelSmoothingMatchesFormula) {
  LossOptions o;
  o.label_smoothing = 0.2;
  auto logits = torch::tensor({{std::log(3.0), 0.0}}, torch::kDouble);  // p = [3/4, 1/4]
  // target 0: q = [0.9, 0.1] -> -(0.9 ln .75 + 0.1 ln .25)
  auto loss = task_loss(o, logits, torch::tensor({0}));
  EXPECT_NEAR(loss.item<double>(), -(0.9 * std::log(0.75) + 0.1 * std::log(0.25)), 1e-12);
}

TEST(Losses, ClassWeightsWeightTheMean) {
  LossOptions o;
  o.class_weights = {1.0, 3.0};
  auto logits = torch::tensor({{0.0, 0.0}, {0.0, 0.0}}, torch::kDouble);
  // both ln 2; weighted mean (1 ln2 + 3 ln2) / (1 + 3) = ln 2
  EXPECT_NEAR(task_loss(o, logits, torch::tensor({0, 1})).item<double>(), std::log(2.0), 1e-12);
  auto skewed = torch::tensor({{0.0, std::log(3.0)}, {0.0, std::log(3.0)}}, torch::kDouble);
  // class 0: -ln(1/4), class 1: -ln(3/4); (1*ln4 + 3*(-ln .75)) / 4
  EXPECT_NEAR(task_loss(o, skewed, torch::tensor({0, 1})).item<double>(),
              (std::log(4.0) - 3 * std::log(0.75)) / 4.0, 1e-12);
}

TEST(Losses, RegressionMasksNaNAndAllUnknownIsZeroNotNaN) {
  LossOptions mse;
  mse.kind = LossKind::mse;
  auto out = torch::tensor({{1.0}, {2.0}, {4.0}}, torch::kDouble).requires_grad_();
  auto tgt = torch::tensor({{0.0}, {std::nan("")}, {2.0}}, torch::kDouble);
  auto loss = task_loss(mse, out, tgt);
  EXPECT_NEAR(loss.item<double>(), (1.0 + 4.0) / 2.0, 1e-12);
  loss.backward();
  EXPECT_NEAR(out.grad()[1][0].item<double>(), 0.0, 1e-12);  // no gradient from the unknown one
  EXPECT_NEAR(out.grad()[2][0].item<double>(), 2.0, 1e-12);  // d/dx (x-2)^2 / 2 at 4

  LossOptions l1;
  l1.kind = LossKind::l1;
  auto none = task_loss(l1, out, torch::full({3, 1}, std::nan(""), torch::kDouble));
  EXPECT_EQ(none.item<double>(), 0.0);
  auto ce_none = task_loss(LossOptions{}, torch::zeros({2, 3}), torch::tensor({-1, -1}));
  EXPECT_EQ(ce_none.item<float>(), 0.0f);
}

TEST(Losses, ConfigRejectsWrongClassWeightCount) {
  auto cfg = ConfigNode::parse("digit: {class_weights: [1, 2]}\n", "c.yaml");
  EXPECT_THROW(LossOptions::from_config(cfg["digit"], heads::TaskKind::classification, 10),
               ConfigError);
  auto ok = LossOptions::from_config(cfg["other"], heads::TaskKind::regression, 1);
  EXPECT_EQ(ok.kind, LossKind::mse);
}

}  // namespace
}  // namespace mmfuse::train
