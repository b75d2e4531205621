// train.transfer: freezing by prefix and by epoch (batch norm statistics untouched while frozen),
// per-prefix learning-rate multipliers as optimizer parameter groups, config errors by path.
#include <gtest/gtest.h>

#include "mmfuse/core/error.h"
#include "mmfuse/train/optimizer.h"
#include "mmfuse/train/transfer.h"

namespace mmfuse::train {
namespace {

// "enc" (linear 3 -> 4, batch norm) and "head" (linear 4 -> 2), named as a task model would be.
struct NetImpl : torch::nn::Module {
  NetImpl() {
    enc = register_module(
        "enc", torch::nn::Sequential(torch::nn::Linear(3, 4), torch::nn::BatchNorm1d(4)));
    head = register_module("head", torch::nn::Linear(4, 2));
  }
  torch::Tensor forward(const torch::Tensor& x) { return head(enc->forward(x)); }
  torch::nn::Sequential enc{nullptr};
  torch::nn::Linear head{nullptr};
};
TORCH_MODULE(Net);

TransferOptions parse_transfer(const std::string& yaml) {
  return TransferOptions::from_config(
      ConfigNode(ConfigNode::parse(yaml).yaml(), "train.transfer", "<test>"));
}

TEST(Transfer, FrozenForTheFirstEpochsWithBatchNormInEvalMode) {
  Net net;
  const auto o = parse_transfer("freeze: [enc.]\nfreeze_epochs: 1");
  net->train();
  EXPECT_EQ(apply_freeze(*net, o, 0), 3 * 4 + 4 + 4 + 4);  // linear + bn weight and bias
  EXPECT_FALSE(net->enc[0]->as<torch::nn::Linear>()->weight.requires_grad());
  EXPECT_TRUE(net->head->weight.requires_grad());
  EXPECT_FALSE(net->enc->is_training());
  EXPECT_TRUE(net->head->is_training());
  // A training step leaves the frozen part as it was: no gradient, running stats unchanged.
  auto* bn = net->enc[1]->as<torch::nn::BatchNorm1d>();
  const auto mean_before = bn->running_mean.clone();
  net->forward(torch::randn({8, 3}) + 5).sum().backward();
  EXPECT_TRUE(torch::equal(bn->running_mean, mean_before));
  EXPECT_FALSE(net->enc[0]->as<torch::nn::Linear>()->weight.grad().defined());
  EXPECT_TRUE(net->head->weight.grad().defined());
  // Epoch 2 (index 1): trained again.
  net->train();
  EXPECT_EQ(apply_freeze(*net, o, 1), 0);
  EXPECT_TRUE(net->enc[0]->as<torch::nn::Linear>()->weight.requires_grad());
  EXPECT_TRUE(net->enc->is_training());
  net->forward(torch::randn({8, 3}) + 5).sum().backward();
  EXPECT_FALSE(torch::equal(bn->running_mean, mean_before));
  // freeze_epochs: 0 freezes for the whole run.
  EXPECT_TRUE(frozen_in(parse_transfer("freeze: [enc.]"), 100));
  EXPECT_FALSE(frozen_in(parse_transfer("freeze_epochs: 3"), 0));  // nothing to freeze
}

// bn_eval: the batch norm under the prefix keeps its running statistics in every epoch while its
// affine weights (and the rest of the prefix) train; other modules stay in train mode.
TEST(Transfer, BatchNormInEvalModeWhileItsWeightsTrain) {
  Net net;
  const auto o = parse_transfer("bn_eval: [enc.]");
  EXPECT_FALSE(o.empty());
  auto* bn = net->enc[1]->as<torch::nn::BatchNorm1d>();
  const auto mean_before = bn->running_mean.clone(), weight_before = bn->weight.clone();
  for (int64_t epoch : {0, 5}) {
    net->train();
    EXPECT_EQ(apply_freeze(*net, o, epoch), 0);  // nothing frozen
    EXPECT_FALSE(bn->is_training());
    EXPECT_TRUE(net->enc[0]->is_training());
    EXPECT_TRUE(net->head->is_training());
    auto opt = torch::optim::SGD(net->parameters(), 0.1);
    opt.zero_grad();
    net->forward(torch::randn({8, 3}) + 5).pow(2).sum().backward();
    opt.step();
  }
  EXPECT_TRUE(torch::equal(bn->running_mean, mean_before));  // statistics as loaded
  EXPECT_FALSE(torch::equal(bn->weight, weight_before));     // the affine weights trained
  EXPECT_THROW(apply_freeze(*net, parse_transfer("bn_eval: [nothing.]"), 0), ConfigError);
}

TEST(Transfer, LearningRateMultipliersBecomeParameterGroups) {
  Net net;
  const auto o = parse_transfer("lr_mult: {enc.: 0.1, enc.1.: 0.5}");
  const ParamGroups g = param_groups(*net, o);
  ASSERT_EQ(g.multipliers, (std::vector<double>{1.0, 0.1, 0.5}));
  EXPECT_EQ(g.params[0].size(), 2u);  // head weight, bias
  EXPECT_EQ(g.params[1].size(), 2u);  // enc.0 (enc.1 has the longer prefix)
  EXPECT_EQ(g.params[2].size(), 2u);  // enc.1 (batch norm weight, bias)
  std::vector<torch::optim::OptimizerParamGroup> groups;
  for (const auto& p : g.params) groups.emplace_back(p);
  auto opt = make_optimizer(OptimizerOptions{}, std::move(groups));
  set_learning_rate(*opt, 0.2, g.multipliers);
  EXPECT_DOUBLE_EQ(opt->param_groups()[0].options().get_lr(), 0.2);
  EXPECT_DOUBLE_EQ(opt->param_groups()[1].options().get_lr(), 0.02);
  EXPECT_DOUBLE_EQ(opt->param_groups()[2].options().get_lr(), 0.1);
  // An SGD step moves each group by its own rate: grad 1 everywhere.
  for (const auto& p : net->parameters()) p.mutable_grad() = torch::ones_like(p);
  const auto head_before = net->head->bias.clone();
  const auto enc_before = net->enc[0]->as<torch::nn::Linear>()->bias.clone();
  opt->step();
  EXPECT_TRUE(torch::allclose(net->head->bias, head_before - 0.2));
  EXPECT_TRUE(torch::allclose(net->enc[0]->as<torch::nn::Linear>()->bias, enc_before - 0.02));
}

TEST(Transfer, PrefixesThatMatchNothingNameTheConfigPath) {
  Net net;
  try {
    apply_freeze(*net, parse_transfer("freeze: [encoders.image.]"), 0);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("train.transfer.freeze"), std::string::npos) << msg;
    EXPECT_NE(msg.find("enc.0.weight"), std::string::npos) << msg;  // what names look like
  }
  EXPECT_THROW(param_groups(*net, parse_transfer("lr_mult: {fusion.: 2}")), ConfigError);
  EXPECT_THROW(parse_transfer("freeze_epochs: -1"), ConfigError);
  EXPECT_THROW(parse_transfer("lr_mult: {enc.: -1}"), ConfigError);
}

}  // namespace
}  // namespace mmfuse::train
