#include "mmfuse/train/optimizer.h"

#include <gtest/gtest.h>

namespace mmfuse::train {
namespace {

TEST(Optimizer, SgdWithMomentumFollowsTheUpdateRule) {
  // One parameter, loss = 0.5 * w^2 -> grad = w. PyTorch SGD: buf = g (first step),
  // then buf = m*buf + g; w -= lr * buf.
  auto w = torch::tensor({2.0}, torch::requires_grad());
  auto cfg = ConfigNode::parse("type: sgd\nlr: 0.1\nmomentum: 0.9\n");
  auto opt = make_optimizer(cfg, {w});
  double expect = 2.0, buf = 0.0;
  for (int i = 0; i < 3; ++i) {
    opt->zero_grad();
    (0.5 * w * w).sum().backward();
    opt->step();
    buf = i == 0 ? expect : 0.9 * buf + expect;
    expect -= 0.1 * buf;
    EXPECT_NEAR(w.item<double>(), expect, 1e-6);
  }
}

TEST(Optimizer, UnknownTypeNamesPathAndChoices) {
  auto cfg = ConfigNode::parse("train:\n  optimizer: {type: adagrad}\n", "c.yaml");
  try {
    make_optimizer(cfg["train"]["optimizer"], {torch::zeros({1}, torch::requires_grad())});
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("train.optimizer.type"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("adamw"), std::string::npos) << e.what();
  }
}

TEST(LrSchedule, CosineWithWarmupHitsEndpoints) {
  auto o = ScheduleOptions::from_config(ConfigNode::parse("type: cosine\nwarmup_steps: 4\n"));
  LrSchedule s(o, 1.0, 10, 2);           // 20 steps
  EXPECT_NEAR(s.lr_at(0), 0.2, 1e-12);   // warm-up 1/5
  EXPECT_NEAR(s.lr_at(3), 0.8, 1e-12);   // warm-up 4/5
  EXPECT_NEAR(s.lr_at(4), 1.0, 1e-12);   // cosine start
  EXPECT_NEAR(s.lr_at(12), 0.5, 1e-12);  // half way through the 16 cosine steps
  EXPECT_NEAR(s.lr_at(20), 0.0, 1e-12);
}

TEST(LrSchedule, StepDecaysPerEpochs) {
  auto o =
      ScheduleOptions::from_config(ConfigNode::parse("type: step\nstep_size: 2\ngamma: 0.5\n"));
  LrSchedule s(o, 0.4, 5, 6);
  EXPECT_DOUBLE_EQ(s.lr_at(9), 0.4);   // epoch 1
  EXPECT_DOUBLE_EQ(s.lr_at(10), 0.2);  // epoch 2
  EXPECT_DOUBLE_EQ(s.lr_at(29), 0.1);  // epoch 5
}

TEST(LrSchedule, PlateauDecaysAfterPatienceAndResumes) {
  auto o = ScheduleOptions::from_config(
      ConfigNode::parse("type: plateau\npatience: 1\nfactor: 0.5\nmode: max\n"));
  LrSchedule s(o, 1.0, 1, 10);
  s.on_epoch_end(0.5);
  s.on_epoch_end(0.4);  // bad 1 (<= patience)
  EXPECT_DOUBLE_EQ(s.lr_at(0), 1.0);
  s.on_epoch_end(0.45);  // bad 2 -> decay
  EXPECT_DOUBLE_EQ(s.lr_at(0), 0.5);
  LrSchedule resumed(o, 1.0, 1, 10);
  resumed.load_state(s.state());
  EXPECT_DOUBLE_EQ(resumed.lr_at(0), 0.5);
}

}  // namespace
}  // namespace mmfuse::train
