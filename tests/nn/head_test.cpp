// Heads: the MLP head's state-dict names mirror the peer's nn.Sequential(Linear, ReLU, Linear);
// the projection head gives unit vectors; the linear head is one affine map, with its input's
// dropout in training only.
#include <gtest/gtest.h>

#include <set>

#include "mmfuse/core/error.h"
#include "mmfuse/nn/heads/linear.h"
#include "mmfuse/nn/heads/mlp.h"
#include "mmfuse/nn/heads/projection.h"
#include "nn/conformance_util.h"

namespace mmfuse::heads {
namespace {

using mmfuse::testing::block_config;
using mmfuse::testing::max_abs_diff;

std::set<std::string> keys_of(const torch::nn::Module& m) {
  std::set<std::string> keys;
  for (const auto& p : m.named_parameters()) keys.insert(p.key());
  return keys;
}

TEST(MlpHead, KeysMirrorThePeerSequential) {
  HeadContext ctx;
  ctx.in_dim = 240;
  ctx.out_dim = 10;
  auto head = head_registry().make("mlp", ctx, block_config("type: mlp"));
  EXPECT_EQ(keys_of(*head.module()),
            (std::set<std::string>{"net.0.weight", "net.0.bias", "net.2.weight", "net.2.bias"}));
  auto params = head.module()->named_parameters();
  EXPECT_EQ(params["net.0.weight"].sizes(), torch::IntArrayRef({100, 240}));
  EXPECT_EQ(params["net.2.weight"].sizes(), torch::IntArrayRef({10, 100}));

  auto dropout =
      head_registry().make("mlp", ctx, block_config("type: mlp\ndropout: 0.5\nhidden: 7"));
  EXPECT_EQ(keys_of(*dropout.module()),
            (std::set<std::string>{"net.0.weight", "net.0.bias", "net.3.weight", "net.3.bias"}));
  EXPECT_THROW(head_registry().make("mlp", ctx, block_config("type: mlp\nhiden: 7")), ConfigError);
}

TEST(MlpHead, ComputesLinearReluLinear) {
  torch::manual_seed(0);
  MlpHead head(MlpHeadOptions(4, 2).hidden(3));
  auto z = torch::randn({5, 4});
  auto l1 = head->net[0]->as<torch::nn::Linear>();
  auto l2 = head->net[2]->as<torch::nn::Linear>();
  auto expected =
      torch::relu(z.matmul(l1->weight.t()) + l1->bias).matmul(l2->weight.t()) + l2->bias;
  EXPECT_LE(max_abs_diff(head->predict(z), expected), 1e-6);
}

TEST(ProjectionHead, GivesUnitVectors) {
  torch::manual_seed(0);
  for (int64_t hidden : {0, 6}) {
    ProjectionHead head(ProjectionHeadOptions(5, 3).hidden(hidden));
    auto y = head->predict(torch::randn({4, 5}) * 10);
    EXPECT_LE(max_abs_diff(y.norm(2, 1), torch::ones({4})), 1e-6) << hidden;
    EXPECT_EQ(keys_of(*head.ptr()).size(), hidden == 0 ? 2u : 4u);
  }
}

TEST(LinearHead, IsOneAffineMap) {
  torch::manual_seed(0);
  LinearHead head(LinearHeadOptions(4, 2));
  auto z = torch::randn({3, 4});
  EXPECT_LE(max_abs_diff(head->predict(z), z.matmul(head->linear->weight.t()) + head->linear->bias),
            1e-6);
  HeadContext ctx;
  ctx.in_dim = 0;
  ctx.out_dim = 2;
  EXPECT_THROW(head_registry().make("linear", ctx, block_config("type: linear")), ConfigError);
}

TEST(LinearHead, DropsItsInputInTrainingOnly) {
  // dropout 0.5 over z = 1 through the weight 1, bias 0: each training output is 0 or 2 (kept
  // components are scaled by 1 / (1 - p)), about half of each; in eval every output is 1.
  HeadContext ctx;
  ctx.in_dim = 1;
  ctx.out_dim = 1;
  auto made = head_registry().make("linear", ctx, block_config("{type: linear, dropout: 0.5}"));
  auto* head = dynamic_cast<LinearHeadImpl*>(made.module().get());
  ASSERT_NE(head, nullptr);
  EXPECT_EQ(keys_of(*head), (std::set<std::string>{"linear.weight", "linear.bias"}));
  {
    torch::NoGradGuard no_grad;
    head->linear->weight.fill_(1);
    head->linear->bias.zero_();
  }
  torch::manual_seed(0);
  auto z = torch::ones({4000, 1});
  head->train();
  auto out = head->predict(z);
  const int64_t zeros = (out == 0).sum().item<int64_t>();
  const int64_t twos = (out == 2).sum().item<int64_t>();
  EXPECT_EQ(zeros + twos, 4000);
  EXPECT_NEAR(double(zeros) / 4000, 0.5, 0.04);
  head->eval();
  EXPECT_TRUE(torch::equal(head->predict(z), z));
  EXPECT_THROW(head_registry().make("linear", ctx, block_config("{type: linear, dropout: 1}")),
               ConfigError);
}

}  // namespace
}  // namespace mmfuse::heads
