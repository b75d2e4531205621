#include "mmfuse/train/step.h"

#include <gtest/gtest.h>

#include "mmfuse/core/error.h"

namespace mmfuse::train {
namespace {

TEST(CheckedStep, ClipsTheGradientNormThenSteps) {
  // loss = 3 w0 + 4 w1: gradient (3, 4), norm 5; clipped to 1 -> (0.6, 0.8); SGD lr 1.
  auto w = torch::zeros({2}, torch::requires_grad());
  torch::optim::SGD opt({w}, torch::optim::SGDOptions(1.0));
  auto loss = (w * torch::tensor({3.0, 4.0})).sum() + 7.0;
  EXPECT_DOUBLE_EQ(checked_step(loss, opt, {w}, 1.0, 0, 0, "kept"), 7.0);
  EXPECT_NEAR(w[0].item<double>(), -0.6, 1e-6);
  EXPECT_NEAR(w[1].item<double>(), -0.8, 1e-6);
}

TEST(CheckedStep, NanLossThrowsNamingWhereAndLeavesWeights) {
  auto w = torch::ones({2}, torch::requires_grad());
  torch::optim::SGD opt({w}, torch::optim::SGDOptions(1.0));
  auto loss = (w * std::numeric_limits<double>::quiet_NaN()).sum();
  try {
    checked_step(loss, opt, {w}, 0.0, 2, 17, "the best weights are in b.safetensors");
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("loss became NaN at epoch 3 step 17"), std::string::npos) << m;
    EXPECT_NE(m.find("the best weights are in b.safetensors"), std::string::npos) << m;
  }
  EXPECT_TRUE(torch::equal(w, torch::ones({2})));
}

TEST(Limited, KeepsTheFirstSamples) {
  auto set = std::make_shared<data::SampleSet>();
  for (int i = 0; i < 5; ++i) set->samples.push_back(data::Sample{std::to_string(i)});
  auto three = limited(set, 3);
  ASSERT_EQ(three->samples.size(), 3u);
  EXPECT_EQ(three->samples[2].id, "2");
  EXPECT_EQ(set->samples.size(), 5u);  // the input is untouched
  EXPECT_EQ(limited(set, 0), set);
  EXPECT_EQ(limited(set, 9), set);
}

}  // namespace
}  // namespace mmfuse::train
