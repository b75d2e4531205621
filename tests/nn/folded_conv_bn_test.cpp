// LeNet's inference path (conv and BatchNorm folded into one oneDNN convolution, pooling before
// ReLU) equals its plain training-graph path in eval mode, and follows weight updates.
#include <gtest/gtest.h>

#include "mmfuse/nn/encoders/lenet.h"

namespace mmfuse::encoders {
namespace {

double max_rel_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>() / std::max(1e-12, b.abs().max().item<double>());
}

LeNet trained_lenet(int64_t channels, int64_t blocks, std::vector<int64_t> hw) {
  torch::manual_seed(3);
  LeNet net(LeNetOptions(1, hw).channels(channels).extra_blocks(blocks));
  {
    torch::NoGradGuard no_grad;  // non-trivial affine parameters
    for (auto& p : net->named_parameters()) {
      if (p.key().find("net.1") != std::string::npos ||
          p.key().find(".bias") != std::string::npos) {
        p.value().uniform_(0.5, 1.5);
      }
    }
  }
  net->train();
  for (int i = 0; i < 3; ++i) net->feature_map(torch::rand({8, 1, hw[0], hw[1]}));  // running stats
  net->eval();
  return net;
}

// Eval mode with autograd on runs the plain Sequential (conv -> bn -> relu -> pool).
torch::Tensor plain(LeNet& net, const torch::Tensor& x) {
  return net->feature_map(x).detach();
}

torch::Tensor folded(LeNet& net, const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  return net->feature_map(x);
}

TEST(FoldedConvBn, LeNetInferenceEqualsThePlainPathAtEveryBatchSize) {
  for (auto [ch, blocks, side] : {std::tuple{6, 5, 112}, {3, 3, 28}}) {
    LeNet net = trained_lenet(ch, blocks, {side, side});
    for (int64_t b : {1, 5, 40}) {
      auto x = torch::rand({b, 1, side, side});
      auto want = plain(net, x), got = folded(net, x);
      ASSERT_EQ(got.sizes(), want.sizes());
      EXPECT_LT(max_rel_diff(got, want), 1e-5) << "channels " << ch << " batch " << b;
    }
    c10::InferenceMode inference;  // the bench's and the evaluator's mode
    auto x = torch::rand({2, 1, side, side});
    EXPECT_LT(max_rel_diff(net->feature_map(x), plain(net, x)), 1e-5);
  }
}

TEST(FoldedConvBn, FollowsWeightAndStatisticUpdates) {
  LeNet net = trained_lenet(4, 2, {28, 28});
  auto x = torch::rand({3, 1, 28, 28});
  auto before = folded(net, x);
  {
    torch::NoGradGuard no_grad;
    for (auto& p : net->parameters()) p.mul_(1.1);  // as an optimizer step would, in place
  }
  auto after = folded(net, x);
  EXPECT_GT((after - before).abs().max().item<double>(), 1e-3);
  EXPECT_LT(max_rel_diff(after, plain(net, x)), 1e-5);
  net->train();
  net->feature_map(torch::rand({8, 1, 28, 28}));  // running statistics move
  net->eval();
  EXPECT_LT(max_rel_diff(folded(net, x), plain(net, x)), 1e-5);
  auto copy = std::dynamic_pointer_cast<LeNetImpl>(net->clone());  // clones start uncached
  EXPECT_LT(max_rel_diff(folded(net, x), copy->feature_map(x).detach()), 1e-5);
}

}  // namespace
}  // namespace mmfuse::encoders
