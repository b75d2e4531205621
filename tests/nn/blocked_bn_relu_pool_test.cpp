// The blocked BatchNorm -> ReLU -> MaxPool2 (nn/encoders/blocked_bn_relu_pool.h) in every layout
// oneDNN may hand it, whatever this machine's instruction set: 8-lane blocks (what oneDNN picks
// on AVX2-only CPUs), 16-lane blocks (AVX-512) and NHWC, with partly used last blocks and channel
// counts that are not multiples of 8 — against LibTorch's three modules on the same values.
#include <gtest/gtest.h>

#include "mmfuse/nn/encoders/blocked_bn_relu_pool.h"

namespace mmfuse::encoders {
namespace blocked_bn_relu_pool_test {

double max_rel_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>() / std::max(1e-6, b.abs().max().item<double>());
}

// Plain [N, C, H, W] <-> [N, C/B, H, W, B] (channels past C zero; B = C: NHWC).
torch::Tensor to_blocked(const torch::Tensor& x, const BlockedMap& s) {
  auto padded = torch::zeros({s.n, s.padded_channels(), s.h, s.w});
  padded.narrow(1, 0, s.c).copy_(x);
  return padded.view({s.n, s.blocks(), s.block, s.h, s.w}).permute({0, 1, 3, 4, 2}).contiguous();
}
torch::Tensor from_blocked(const torch::Tensor& b, const BlockedMap& s) {
  return b.view({s.n, s.blocks(), s.h, s.w, s.block})
      .permute({0, 1, 4, 2, 3})
      .reshape({s.n, s.padded_channels(), s.h, s.w})
      .narrow(1, 0, s.c);
}

TEST(BlockedBnReluPool, EveryLayoutEqualsTheModules) {
  torch::manual_seed(31);
  struct Case {
    int64_t n, c, h, w, block;
  };
  const std::vector<Case> cases = {
      {3, 5, 8, 8, 8},     // one 8-lane block, 3 lanes of padding
      {2, 13, 9, 7, 8},    // two 8-lane blocks, odd sides
      {1, 8, 4, 6, 8},     // exactly one block, batch 1
      {2, 6, 10, 11, 16},  // 16 lanes, 6 used (a LeNet's first layer)
      {2, 20, 5, 6, 16},   // two 16-lane blocks
      {2, 8, 6, 6, 8},     // NHWC with 8 channels (one vector)
      {3, 12, 7, 8, 12},   // NHWC, 12 channels: the second vector overlaps the first
      {2, 20, 6, 9, 20},   // NHWC, 20 channels
  };
  for (const auto& c : cases) {
    const BlockedMap s{c.n, c.c, c.h, c.w, c.block};
    std::ostringstream what;
    what << "[" << c.n << ", " << c.c << ", " << c.h << ", " << c.w << "] in " << c.block
         << "-lane " << (c.block == c.c && c.c != 8 ? "NHWC" : "blocks");
    auto x = torch::randn({c.n, c.c, c.h, c.w}) * 2 + 1;
    auto g = torch::randn({c.n, c.c, c.h / 2, c.w / 2});
    torch::nn::BatchNorm2d fused(c.c), plain(c.c);
    {
      torch::NoGradGuard no_grad;
      fused->weight.uniform_(-1.5, 1.5);
      fused->bias.uniform_(-0.5, 0.5);
      plain->weight.copy_(fused->weight);
      plain->bias.copy_(fused->bias);
    }
    // The modules.
    auto xr = x.clone().requires_grad_(true);
    auto want = torch::max_pool2d(torch::relu(plain(xr)), 2);
    want.backward(g);
    // The blocked op on the same values.
    const auto xb = to_blocked(x, s);
    BlockedBnSaved saved;
    torch::Tensor gamma = fused->weight.detach(), beta = fused->bias.detach();
    auto got = blocked_bn_relu_max_pool2(xb, s, gamma, beta, *fused, saved);
    EXPECT_TRUE(got.is_contiguous(torch::MemoryFormat::ChannelsLast)) << what.str();
    auto [dxb, dgamma, dbeta] = blocked_bn_relu_max_pool2_backward(xb, s, g, gamma, saved);

    EXPECT_LT(max_rel_diff(got, want.detach()), 1e-5) << what.str() << ": output";
    EXPECT_LT(max_rel_diff(from_blocked(dxb, s), xr.grad()), 1e-4) << what.str() << ": dx";
    EXPECT_LT(max_rel_diff(dgamma, plain->weight.grad()), 1e-4) << what.str() << ": dgamma";
    EXPECT_LT(max_rel_diff(dbeta, plain->bias.grad()), 1e-4) << what.str() << ": dbeta";
    EXPECT_LT(max_rel_diff(fused->running_mean, plain->running_mean), 1e-5) << what.str();
    EXPECT_LT(max_rel_diff(fused->running_var, plain->running_var), 1e-5) << what.str();
    if (s.padded_channels() > s.c) {  // oneDNN reads the padding of a blocked gradient
      auto padding = dxb.view({s.n, s.blocks(), s.h, s.w, s.block})
                         .select(1, s.blocks() - 1)
                         .narrow(-1, s.c % s.block, s.block - s.c % s.block);
      EXPECT_EQ(padding.abs().max().item<float>(), 0.f) << what.str() << ": padding lanes";
    }
  }
}

TEST(BlockedBnReluPool, RefusesLayoutsItCannotRead) {
  torch::nn::BatchNorm2d bn(6);
  BlockedBnSaved saved;
  auto ones = torch::ones({6}), zeros = torch::zeros({6});
  // NHWC with fewer than 8 channels (a vector would cross into the next pixel).
  const BlockedMap nhwc6{2, 6, 4, 4, 6};
  EXPECT_THROW(
      blocked_bn_relu_max_pool2(torch::zeros({nhwc6.numel()}), nhwc6, ones, zeros, *bn, saved),
      std::invalid_argument);
  // gamma and beta of another channel count.
  const BlockedMap blocked6{2, 6, 4, 4, 16};
  EXPECT_THROW(blocked_bn_relu_max_pool2(torch::zeros({blocked6.numel()}), blocked6,
                                         torch::ones({5}), zeros, *bn, saved),
               c10::Error);
  // Several blocks of a width that is not a multiple of 8.
  torch::nn::BatchNorm2d bn20(20);
  const BlockedMap odd{2, 20, 4, 4, 12};
  EXPECT_THROW(blocked_bn_relu_max_pool2(torch::zeros({odd.numel()}), odd, torch::ones({20}),
                                         torch::zeros({20}), *bn20, saved),
               std::invalid_argument);
}

}  // namespace blocked_bn_relu_pool_test
}  // namespace mmfuse::encoders
