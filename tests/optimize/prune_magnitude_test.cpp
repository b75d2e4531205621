// Unstructured magnitude pruning: exact counts whatever the amount, ties or scope; the smallest
// magnitudes go first; masks keep pruned weights at zero through optimizer steps.
#include <gtest/gtest.h>

#include <cmath>

#include "mmfuse/core/error.h"
#include "mmfuse/optimize/prune_magnitude.h"

namespace mmfuse::optimize {
namespace {

// A Conv2d (5x1x3x3 = 45 weights), a Linear with ties (7x3 = 21, values in {-1, 0.5, 1}) and a
// Linear of 13 weights: odd counts everywhere.
torch::nn::Sequential prune_test_model() {
  torch::manual_seed(5);
  torch::nn::Sequential seq(torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 5, 3)),
                            torch::nn::Flatten(), torch::nn::Linear(3, 7), torch::nn::ReLU(),
                            torch::nn::Linear(13, 1));
  torch::NoGradGuard no_grad;
  auto w = seq[2]->as<torch::nn::Linear>()->weight;
  auto ties = torch::tensor({-1.0f, 0.5f, 1.0f}).repeat({7});
  w.copy_(ties.view({7, 3}));
  return seq;
}

int64_t prune_zeros_of(const torch::Tensor& t) {
  return t.numel() - t.count_nonzero().item<int64_t>();
}

TEST(PruneMagnitude, FindsTheLinearAndConvWeights) {
  auto model = prune_test_model();
  auto weights = prunable_weights(*model);
  ASSERT_EQ(weights.size(), 3u);
  EXPECT_EQ(weights[0].first, "0.weight");
  EXPECT_EQ(weights[1].first, "2.weight");
  EXPECT_EQ(weights[2].first, "4.weight");
}

TEST(PruneMagnitude, PerLayerCountIsExactForEveryAmountAndTies) {
  auto model = prune_test_model();
  const auto weights = prunable_weights(*model);
  for (double amount : {0.0, 0.1, 1.0 / 3.0, 0.5, 0.77, 0.95}) {
    auto masks = magnitude_masks(weights, amount, PruneScope::layer);
    for (const auto& [name, w] : weights) {
      const auto& mask = masks.at(name);
      ASSERT_TRUE(mask.sizes().equals(w.sizes())) << name;
      const int64_t expected = std::llround(amount * static_cast<double>(w.numel()));
      EXPECT_EQ(prune_zeros_of(mask), expected) << name << " amount " << amount;
      if (expected == 0 || expected == w.numel()) continue;
      // Every pruned magnitude is at most every kept one.
      auto a = w.detach().abs();
      const double pruned_max = a.masked_select(mask == 0).max().item<double>();
      const double kept_min = a.masked_select(mask == 1).min().item<double>();
      EXPECT_LE(pruned_max, kept_min) << name << " amount " << amount;
    }
  }
}

TEST(PruneMagnitude, TiesAreBrokenByPosition) {
  auto model = prune_test_model();
  const auto weights = prunable_weights(*model);
  // 2.weight: |w| = 1, 0.5, 1 per row: 7 entries of 0.5 then 14 of 1. Pruning 10 takes the 7
  // halves and the first 3 ones in position order (row 0 col 0, row 0 col 2, row 1 col 0).
  auto masks = magnitude_masks({weights[1]}, 10.0 / 21.0, PruneScope::layer);
  auto m = masks.at("2.weight");
  EXPECT_EQ(prune_zeros_of(m), 10);
  EXPECT_EQ(prune_zeros_of(m.select(1, 1)), 7);
  EXPECT_EQ(m[0][0].item<float>(), 0.0f);
  EXPECT_EQ(m[0][2].item<float>(), 0.0f);
  EXPECT_EQ(m[1][0].item<float>(), 0.0f);
  EXPECT_EQ(m[1][2].item<float>(), 1.0f);
}

TEST(PruneMagnitude, GlobalCountIsExactOverAllLayers) {
  auto model = prune_test_model();
  const auto weights = prunable_weights(*model);
  const int64_t total = 45 + 21 + 13;
  for (double amount : {0.0, 0.25, 0.5, 0.9}) {
    auto masks = magnitude_masks(weights, amount, PruneScope::global);
    int64_t zeros = 0;
    double pruned_max = 0, kept_min = INFINITY;
    for (const auto& [name, w] : weights) {
      const auto& mask = masks.at(name);
      zeros += prune_zeros_of(mask);
      auto a = w.detach().abs();
      if (prune_zeros_of(mask) > 0)
        pruned_max = std::max(pruned_max, a.masked_select(mask == 0).max().item<double>());
      if (prune_zeros_of(mask) < w.numel())
        kept_min = std::min(kept_min, a.masked_select(mask == 1).min().item<double>());
    }
    EXPECT_EQ(zeros, std::llround(amount * total)) << amount;
    EXPECT_LE(pruned_max, kept_min) << amount;
  }
}

TEST(PruneMagnitude, AmountOutsideZeroToOneIsAUsageError) {
  auto model = prune_test_model();
  const auto weights = prunable_weights(*model);
  for (double bad : {-0.1, 1.0, 1.5, std::nan("")}) {
    EXPECT_THROW(magnitude_masks(weights, bad, PruneScope::layer), UsageError) << bad;
  }
}

TEST(PruneMagnitude, MasksKeepPrunedWeightsZeroThroughOptimizerSteps) {
  for (bool adam : {false, true}) {
    auto model = prune_test_model();
    auto masks = magnitude_masks(prunable_weights(*model), 0.5, PruneScope::layer);
    apply_masks(*model, masks);
    std::unique_ptr<torch::optim::Optimizer> opt;
    if (adam) {
      opt = std::make_unique<torch::optim::AdamW>(model->parameters(),
                                                  torch::optim::AdamWOptions(0.05));
    } else {
      opt = std::make_unique<torch::optim::SGD>(
          model->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9).weight_decay(0.01));
    }
    auto before = model[4]->as<torch::nn::Linear>()->weight.detach().clone();
    for (int step = 0; step < 3; ++step) {
      auto x = torch::randn({4, 1, 5, 5});
      auto h = model[0]->as<torch::nn::Conv2d>()->forward(x).flatten(1);  // [4, 45]
      auto y = model[4]->as<torch::nn::Linear>()->forward(h.slice(1, 0, 13)) +
               model[2]->as<torch::nn::Linear>()->forward(h.slice(1, 0, 3)).sum(1, true);
      opt->zero_grad();
      y.pow(2).mean().backward();
      opt->step();
      apply_masks(*model, masks);
    }
    for (const auto& s : weight_sparsity(*model)) {
      if (s.name == "overall") continue;
      EXPECT_EQ(s.zeros, std::llround(0.5 * static_cast<double>(s.total))) << s.name;
    }
    for (const auto& [name, w] : prunable_weights(*model)) {
      EXPECT_EQ(w.masked_select(masks.at(name) == 0).abs().sum().item<double>(), 0.0) << name;
    }
    // The kept weights did learn.
    EXPECT_FALSE(torch::equal(before, model[4]->as<torch::nn::Linear>()->weight.detach()));
    const auto overall = weight_sparsity(*model).back();
    EXPECT_EQ(overall.name, "overall");
    EXPECT_EQ(overall.total, 45 + 21 + 13);
  }
}

TEST(PruneMagnitude, AMaskForAnotherModelIsAnError) {
  auto model = prune_test_model();
  std::map<std::string, torch::Tensor> masks = {{"9.weight", torch::ones({2})}};
  EXPECT_THROW(apply_masks(*model, masks), Error);
  masks = {{"4.weight", torch::ones({2})}};
  EXPECT_THROW(apply_masks(*model, masks), Error);
}

}  // namespace
}  // namespace mmfuse::optimize
