// The forward and the weight gradient of a one-input-channel convolution
// (nn/encoders/single_channel_conv.h) against LibTorch's conv2d and its autograd in double, on
// random shapes (batch 1, odd sides, 8- and 16-lane blocks, channel counts below, at and above a
// block, every kernel side and several paddings), with every loop this CPU runs (the plain loop
// always), and through the fused LeNet block with the kernel on and off.
#include <gtest/gtest.h>

#include "mmfuse/nn/encoders/conv_block.h"
#include "mmfuse/nn/encoders/single_channel_conv.h"

namespace mmfuse::encoders {
namespace single_channel_conv_test {

// g [N, C, H, W] -> nChw{B}c ([N, ceil(C / B), H, W, B]) with `fill` in the lanes past C.
torch::Tensor to_blocked(const torch::Tensor& g, int64_t block, float fill) {
  const int64_t n = g.size(0), c = g.size(1), blocks = (c + block - 1) / block;
  auto padded = torch::full({n, blocks * block, g.size(2), g.size(3)}, fill, g.options());
  padded.narrow(1, 0, c).copy_(g);
  return padded.view({n, blocks, block, g.size(2), g.size(3)})
      .permute({0, 1, 3, 4, 2})
      .contiguous();
}

// The weight gradient in double of a convolution of x [N, 1, H, W] whose output gradient is g.
torch::Tensor reference_weight_gradient(const torch::Tensor& x, const torch::Tensor& g, int64_t k,
                                        int64_t pad) {
  auto weight = torch::zeros({g.size(1), 1, k, k}, torch::kDouble).requires_grad_(true);
  auto out = torch::conv2d(x.to(torch::kDouble), weight, {}, 1, pad);
  (out * g.to(torch::kDouble)).sum().backward();
  return weight.grad();
}

struct Case {
  int64_t n, h, w, oc, k, pad, block;
};

TEST(SingleChannelConv, WeightGradientEqualsAutogradInDoubleOnRandomShapes) {
  const std::vector<Case> cases{
      {40, 28, 28, 3, 5, 2, 8},    // AV-MNIST image's first layer (AVX2 blocks)
      {3, 112, 112, 6, 5, 2, 16},  // the audio LeNet's (AVX-512 blocks)
      {1, 7, 9, 8, 3, 1, 8},       // batch 1, odd sides, exactly one block
      {5, 13, 6, 12, 3, 0, 8},     // two blocks, the second half padding, no padding
      {2, 11, 17, 20, 7, 3, 16},   // 7x7, two 16-lane blocks
      {4, 5, 5, 1, 5, 2, 8},       // one output channel, output as large as the input
      {3, 9, 10, 9, 5, 1, 16},     // padding smaller than k / 2: a smaller output
  };
  torch::manual_seed(0);
  for (const SingleChannelLoop loop : single_channel_loops()) {
    for (const Case& c : cases) {
      auto x = torch::randn({c.n, 1, c.h, c.w});
      const int64_t oh = c.h + 2 * c.pad - c.k + 1, ow = c.w + 2 * c.pad - c.k + 1;
      auto g = torch::randn({c.n, c.oc, oh, ow});
      const BlockedMap s{c.n, c.oc, oh, ow, c.block};
      ASSERT_TRUE(single_channel_kernel_applies(s, c.k));
      // NaN in the padding lanes: they must not reach any channel's gradient.
      auto blocked = to_blocked(g, c.block, std::nanf(""));
      auto got =
          single_channel_conv_backward_weights(x, blocked.data_ptr<float>(), s, c.k, c.pad, loop);
      // The reference in double: float32's own rounding over 10^4-10^5 terms reaches 5e-6 of the
      // largest value, too close to the tolerance to tell the kernel's error from the reference's.
      const auto want = reference_weight_gradient(x, g, c.k, c.pad);
      ASSERT_EQ(got.sizes(), want.sizes());
      EXPECT_EQ(got.scalar_type(), torch::kFloat);
      const double scale = want.abs().max().item<double>();
      const double diff = (got.to(torch::kDouble) - want).abs().max().item<double>();
      EXPECT_LE(diff, 1e-5 * scale + 1e-6)
          << "loop " << static_cast<int>(loop) << ", batch " << c.n << ", " << c.h << "x" << c.w
          << ", " << c.oc << " channels, k " << c.k << ", pad " << c.pad << ", " << c.block
          << " lanes";
    }
  }
}

TEST(SingleChannelConv, ForwardEqualsConv2dInDoubleOnRandomShapes) {
  const std::vector<Case> cases{
      {40, 28, 28, 3, 5, 2, 8}, {3, 112, 112, 6, 5, 2, 16}, {1, 7, 9, 8, 3, 1, 8},
      {5, 13, 6, 12, 3, 0, 8},  {2, 11, 17, 20, 7, 3, 16},  {4, 5, 5, 1, 5, 2, 8},
      {3, 9, 10, 9, 5, 1, 16},  {2, 3, 2, 5, 3, 1, 8},  // narrower than a step of four pixels
  };
  torch::manual_seed(3);
  for (const SingleChannelLoop loop : single_channel_loops()) {
    for (const Case& c : cases) {
      for (const bool relu : {false, true}) {
        auto x = torch::randn({c.n, 1, c.h, c.w});
        auto weight = torch::randn({c.oc, 1, c.k, c.k});
        auto bias = torch::randn({c.oc});
        auto want = torch::conv2d(x.to(torch::kDouble), weight.to(torch::kDouble),
                                  bias.to(torch::kDouble), 1, c.pad);
        if (relu) want = torch::relu(want);
        const BlockedMap s{c.n, c.oc, want.size(2), want.size(3), c.block};
        auto out = torch::full({s.numel()}, std::nanf(""));  // every value must be written
        single_channel_conv_forward(x.data_ptr<float>(), weight.data_ptr<float>(),
                                    bias.data_ptr<float>(), s, c.k, c.pad, relu,
                                    out.data_ptr<float>(), loop);
        const auto expected = to_blocked(want, c.block, 0.0f).flatten();  // padding lanes zero
        const double diff = (out.to(torch::kDouble) - expected).abs().max().item<double>();
        EXPECT_LE(diff, 1e-5 * expected.abs().max().item<double>())
            << "loop " << static_cast<int>(loop) << ", batch " << c.n << ", " << c.h << "x" << c.w
            << ", " << c.oc << " channels, k " << c.k << ", pad " << c.pad << ", " << c.block
            << " lanes, relu " << relu;
      }
    }
  }
}

TEST(SingleChannelConv, SameResultAtAnyNumberOfThreads) {
  torch::manual_seed(1);
  const BlockedMap s{9, 6, 20, 20, 8};
  auto x = torch::randn({9, 1, 20, 20});
  auto ddst = to_blocked(torch::randn({9, 6, 20, 20}), 8, 0.0f);
  const int before = at::get_num_threads();
  at::set_num_threads(1);
  auto one = single_channel_conv_backward_weights(x, ddst.data_ptr<float>(), s, 5, 2);
  at::set_num_threads(2);
  auto two = single_channel_conv_backward_weights(x, ddst.data_ptr<float>(), s, 5, 2);
  at::set_num_threads(before);
  EXPECT_TRUE(torch::equal(one, two));
}

TEST(SingleChannelConv, RefusesWhatItDoesNotHandle) {
  EXPECT_FALSE(single_channel_kernel_applies({2, 6, 8, 8, 6}, 5));  // NHWC of 6 lanes
  EXPECT_FALSE(single_channel_kernel_applies({2, 6, 8, 8, 8}, 4));  // even kernel
  EXPECT_FALSE(single_channel_kernel_applies({2, 6, 8, 8, 8}, 9));
  auto x = torch::randn({2, 1, 8, 8});
  auto ddst = torch::zeros({2, 1, 8, 8, 8});
  // A gradient whose sides do not follow from the input, kernel and padding.
  EXPECT_THROW(
      single_channel_conv_backward_weights(x, ddst.data_ptr<float>(), {2, 6, 8, 8, 8}, 5, 1),
      c10::Error);
  // Two input channels.
  auto x2 = torch::randn({2, 2, 8, 8});
  EXPECT_THROW(
      single_channel_conv_backward_weights(x2, ddst.data_ptr<float>(), {2, 6, 8, 8, 8}, 3, 1),
      c10::Error);
}

// The fused LeNet block (conv_block.h) gives the same weight gradient with the kernel as with
// oneDNN's backward-weights primitive.
TEST(SingleChannelConv, FusedBlockGradientIsTheSameWithAndWithoutTheKernel) {
  torch::manual_seed(2);
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(1, 6, 5).padding(2).bias(false));
  torch::nn::BatchNorm2d bn(6);
  auto x = torch::randn({7, 1, 23, 19});
  if (!conv_block_applies(x, *conv)) GTEST_SKIP() << "oneDNN runs this block in another layout";
  auto grad_with = [&](bool on) {
    set_single_channel_kernels(on);
    conv->weight.mutable_grad() = torch::Tensor();
    auto out = conv_bn_relu_max_pool2(x, *conv, *bn);
    (out * torch::linspace(-1, 1, out.numel()).view(out.sizes())).sum().backward();
    set_single_channel_kernels(true);
    return conv->weight.grad().clone();
  };
  auto mine = grad_with(true), onednn = grad_with(false);
  const double scale = onednn.abs().max().item<double>();
  EXPECT_LE((mine - onednn).abs().max().item<double>(), 1e-4 * scale);
  EXPECT_GT(scale, 0.0);
}

}  // namespace single_channel_conv_test
}  // namespace mmfuse::encoders
