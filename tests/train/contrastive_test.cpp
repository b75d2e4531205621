// Properties of the symmetric InfoNCE loss.
#include <gtest/gtest.h>

#include <cmath>

#include "mmfuse/train/contrastive.h"

namespace mmfuse::train {
namespace {

torch::Tensor log_scale_of(double scale) {
  return torch::scalar_tensor(std::log(scale), torch::kFloat);
}

TEST(InfoNce, AlignedOrthogonalEmbeddingsWithLargeScaleGiveAlmostZero) {
  const auto e = torch::eye(8);  // 8 orthogonal unit vectors, a[i] == b[i]
  const double loss = info_nce(e, e, log_scale_of(100.0)).item<double>();
  // each row: -log(e^100 / (e^100 + 7)) ~ 7 e^-100
  EXPECT_LT(loss, 1e-30);
  EXPECT_GE(loss, 0.0);
}

TEST(InfoNce, UninformativeEmbeddingsGiveLogB) {
  // All similarities equal: the softmax is uniform over B columns -> loss log(B) both ways.
  const auto a = torch::ones({6, 4}) / 2.0;
  EXPECT_NEAR(info_nce(a, a, log_scale_of(10.0)).item<double>(), std::log(6.0), 1e-6);
}

TEST(InfoNce, MatchesTheHandFormulaOnTwoPairs) {
  // a = b = e0, e1 rotated: sims [[1, c], [c, 1]] with c = cos 60deg = 0.5, scale s = 2:
  // each row and column: -log(e^2 / (e^2 + e^1)) = log(1 + e^-1).
  const auto a = torch::tensor({1.0f, 0.0f, 0.5f, std::sqrt(3.0f) / 2}).reshape({2, 2});
  EXPECT_NEAR(info_nce(a, a, log_scale_of(2.0)).item<double>(), std::log(1 + std::exp(-1.0)), 1e-6);
}

TEST(InfoNce, IsSymmetricInItsTwoModalities) {
  torch::manual_seed(3);
  auto a = torch::nn::functional::normalize(torch::randn({5, 7}),
                                            torch::nn::functional::NormalizeFuncOptions().dim(1));
  auto b = torch::nn::functional::normalize(torch::randn({5, 7}),
                                            torch::nn::functional::NormalizeFuncOptions().dim(1));
  const auto s = log_scale_of(14.0);
  EXPECT_NEAR(info_nce(a, b, s).item<double>(), info_nce(b, a, s).item<double>(), 1e-6);
  // ... but not invariant to breaking the pairing
  EXPECT_GT(std::abs(info_nce(a, b, s).item<double>() - info_nce(a, b.flip(0), s).item<double>()),
            1e-3);
}

TEST(InfoNce, ScaleIsClampedAndGetsAGradient) {
  const auto e = torch::eye(4);
  auto s = log_scale_of(10.0).requires_grad_(true);
  auto shuffled = e.flip(0);  // every pair mismatched: loss grows with the scale
  info_nce(e, shuffled, s).backward();
  ASSERT_TRUE(s.grad().defined());
  EXPECT_GT(s.grad().item<double>(), 0.0);
  // clamp: a scale above max_scale behaves as max_scale
  EXPECT_NEAR(
      info_nce(e, shuffled, log_scale_of(1e6), {}, InfoNceOptions().max_scale(50)).item<double>(),
      info_nce(e, shuffled, log_scale_of(50)).item<double>(), 1e-4);  // float exp(log 50)
}

TEST(InfoNce, LabelsMakeSameClassRowsPositives) {
  torch::manual_seed(5);
  const auto opts = torch::nn::functional::NormalizeFuncOptions().dim(1);
  auto a = torch::nn::functional::normalize(torch::randn({4, 3}), opts);
  auto b = torch::nn::functional::normalize(torch::randn({4, 3}), opts);
  const auto s = log_scale_of(5.0);
  // Distinct labels: every row's only positive is its pair, as without labels.
  EXPECT_NEAR(info_nce(a, b, s, torch::tensor({0, 1, 2, 3}, torch::kLong)).item<double>(),
              info_nce(a, b, s).item<double>(), 1e-6);
  // Rows 0 and 1 share a label: swapping their b rows changes nothing with labels (both are
  // positives of both), but changes the paired loss.
  const auto labels = torch::tensor({0, 0, 1, 1}, torch::kLong);
  auto swapped = b.index_select(0, torch::tensor({1, 0, 2, 3}, torch::kLong));
  EXPECT_NEAR(info_nce(a, b, s, labels).item<double>(),
              info_nce(a, swapped, s, labels).item<double>(), 1e-6);
  EXPECT_GT(std::abs(info_nce(a, b, s).item<double>() - info_nce(a, swapped, s).item<double>()),
            1e-4);
  EXPECT_THROW(info_nce(a, b, s, torch::tensor({0, 1}, torch::kLong)), c10::Error);
}

}  // namespace
}  // namespace mmfuse::train
