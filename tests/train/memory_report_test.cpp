// Optimizer state and parameter bytes, counted by hand on a Linear(10, 5): 55 float parameters.
#include "mmfuse/train/memory_report.h"

#include <gtest/gtest.h>

namespace mmfuse::train {
namespace {

int64_t bytes_after_one_step(torch::nn::Linear& lin, torch::optim::Optimizer& opt) {
  EXPECT_EQ(optimizer_state_bytes(opt), 0);  // no state before the first step
  opt.zero_grad();
  lin->forward(torch::ones({2, 10})).sum().backward();
  opt.step();
  return optimizer_state_bytes(opt);
}

TEST(MemoryReport, OptimizerStateIsCountedPerAlgorithm) {
  constexpr int64_t kParamBytes = (10 * 5 + 5) * 4;
  torch::nn::Linear a(10, 5);
  EXPECT_EQ(parameter_bytes(*a), kParamBytes);
  EXPECT_EQ(gradient_bytes(*a), 0);
  torch::optim::SGD sgd(a->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  EXPECT_EQ(bytes_after_one_step(a, sgd), kParamBytes);  // one momentum buffer
  EXPECT_EQ(gradient_bytes(*a), kParamBytes);
  torch::nn::Linear b(10, 5);
  torch::optim::Adam adam(b->parameters(), torch::optim::AdamOptions(0.1));
  EXPECT_EQ(bytes_after_one_step(b, adam), 2 * kParamBytes);  // exp_avg, exp_avg_sq
  torch::nn::Linear c(10, 5);
  torch::optim::Adam ams(c->parameters(), torch::optim::AdamOptions(0.1).amsgrad(true));
  EXPECT_EQ(bytes_after_one_step(c, ams), 3 * kParamBytes);  // + max_exp_avg_sq
  torch::nn::Linear d(10, 5);
  torch::optim::RMSprop rms(d->parameters(), torch::optim::RMSpropOptions(0.1));
  EXPECT_EQ(bytes_after_one_step(d, rms), kParamBytes);  // square_avg only
}

}  // namespace
}  // namespace mmfuse::train
