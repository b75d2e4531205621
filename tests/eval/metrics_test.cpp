#include <gtest/gtest.h>

#include <cmath>

#include "mmfuse/eval/classification_metrics.h"
#include "mmfuse/eval/regression_metrics.h"

namespace mmfuse::eval {
namespace {

// One-hot logits for the given predicted classes.
torch::Tensor logits_for(const std::vector<int64_t>& pred, int64_t classes) {
  auto t = torch::zeros({static_cast<int64_t>(pred.size()), classes});
  for (std::size_t i = 0; i < pred.size(); ++i) t[i][pred[i]] = 1.0;
  return t;
}

TEST(ClassificationMetrics, MatchesHandComputedValues) {
  // true:      0 0 0 1 1 2 (and one unknown target, ignored)
  // predicted: 0 0 1 1 2 2
  ClassificationMetrics m(3, 2);
  m.add(logits_for({0, 0, 1, 1, 2, 2, 0}, 3), torch::tensor({0, 0, 0, 1, 1, 2, -1}));
  auto r = m.report();
  EXPECT_EQ(r.count, 6);
  EXPECT_DOUBLE_EQ(r.accuracy, 4.0 / 6.0);
  // class 0: tp 2, predicted 2, support 3 -> p 1, r 2/3, f1 0.8
  // class 1: tp 1, predicted 2, support 2 -> p .5, r .5, f1 .5
  // class 2: tp 1, predicted 2, support 1 -> p .5, r 1, f1 2/3
  EXPECT_DOUBLE_EQ(r.per_class[0].precision, 1.0);
  EXPECT_NEAR(r.per_class[0].f1, 0.8, 1e-12);
  EXPECT_NEAR(r.per_class[2].f1, 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(r.macro_f1, (0.8 + 0.5 + 2.0 / 3.0) / 3.0, 1e-12);
  EXPECT_NEAR(r.weighted_f1, (3 * 0.8 + 2 * 0.5 + 1 * 2.0 / 3.0) / 6.0, 1e-12);
  EXPECT_NEAR(r.macro_recall, (2.0 / 3.0 + 0.5 + 1.0) / 3.0, 1e-12);
  EXPECT_EQ(r.confusion[0][1], 1);
  EXPECT_EQ(r.confusion[1][2], 1);
  EXPECT_EQ(r.confusion[2][2], 1);
}

TEST(ClassificationMetrics, TopKCountsSecondChoice) {
  ClassificationMetrics m(3, 2);
  // sample 0: ranks 2 > 1 > 0, target 1 -> top-1 miss, top-2 hit; sample 1: target 0 -> miss both
  m.add(torch::tensor({{0.1f, 0.5f, 0.9f}, {0.0f, 0.4f, 0.6f}}), torch::tensor({1, 0}));
  auto r = m.report();
  EXPECT_DOUBLE_EQ(r.accuracy, 0.0);
  EXPECT_DOUBLE_EQ(r.top_k_accuracy, 0.5);
}

TEST(RegressionMetrics, MatchesHandComputedValues) {
  RegressionMetrics m;
  m.add(torch::tensor({1.0, 2.0, 4.0, -1.0}), torch::tensor({1.0, 3.0, 2.0, std::nan("")}));
  auto r = m.report();
  EXPECT_EQ(r.count, 3);
  EXPECT_DOUBLE_EQ(r.mae, (0 + 1 + 2) / 3.0);
  EXPECT_DOUBLE_EQ(r.rmse, std::sqrt((0 + 1 + 4) / 3.0));
  // pred mean 7/3, target mean 2: cov = (-4/3)(-1) + (-1/3)(1) + (5/3)(0) = 1
  // var_p = 16/9 + 1/9 + 25/9 = 42/9, var_t = 1 + 1 + 0 = 2
  EXPECT_NEAR(r.pearson, 1.0 / std::sqrt(42.0 / 9.0 * 2.0), 1e-12);
}

TEST(RegressionMetrics, SentimentStyleScores) {
  RegressionMetrics m;
  // targets: -2 (neg), 0 (excluded from binary), 1.4 (pos), 2.6 (pos)
  // preds:   -1.6 (neg ok, round -2 ok), 0.2, -0.3 (wrong sign; round 0 vs 1), 3.7 (round clip 3
  // ok)
  m.add(torch::tensor({-1.6, 0.2, -0.3, 3.7}), torch::tensor({-2.0, 0.0, 1.4, 2.6}));
  auto r = m.report();
  EXPECT_DOUBLE_EQ(r.binary_accuracy, 2.0 / 3.0);
  // positives: tp 1 (2.6), fn 1 (1.4), fp 0 -> p 1, r .5, f1 2/3
  EXPECT_NEAR(r.binary_f1, 2.0 / 3.0, 1e-12);
  // 7-class: -2/-2 ok, 0/0 ok, 0/1 wrong, 3/3 ok
  EXPECT_DOUBLE_EQ(r.seven_class_accuracy, 0.75);
}

}  // namespace
}  // namespace mmfuse::eval
