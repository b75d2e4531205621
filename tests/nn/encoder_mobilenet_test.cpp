// MobileNetV2: torchvision's names and sizes, the width multiplier's rounding, TensorFlow SAME
// padding, and parity with PyTorch on the real pretrained weights (../shared/pretrained,
// reference.py export-io): features and logits, symmetric and SAME padding.
#include <gtest/gtest.h>

#include <string>

#include "mmfuse/core/safetensors.h"
#include "mmfuse/nn/encoders/mobilenet_v2.h"
#include "mmfuse/nn/encoders/pretrained.h"
#include "nn/conformance_util.h"
#include "pretrained_io.h"

namespace mmfuse::encoders {
namespace {

using mmfuse::testing::max_abs_diff;

int64_t parameter_count(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

TEST(MobileNetV2Encoder, TorchvisionSizesAndNames) {
  MobileNetV2 net(MobileNetV2Options(3));
  // torchvision.models.mobilenet_v2(): 3,504,872 parameters, of which the classifier (1280 x
  // 1000 + 1000) takes 1,281,000.
  EXPECT_EQ(parameter_count(*net), 3504872 - 1281000);
  EXPECT_EQ(net->out_dim(), 1280);
  const auto params = net->named_parameters();
  EXPECT_TRUE(params.contains("features.0.0.weight"));
  EXPECT_TRUE(params.contains("features.1.conv.0.0.weight"));  // no expansion: depthwise first
  EXPECT_TRUE(params.contains("features.1.conv.1.weight"));
  EXPECT_TRUE(params.contains("features.2.conv.3.bias"));
  EXPECT_TRUE(params.contains("features.18.1.weight"));
  EXPECT_EQ(params["features.17.conv.2.weight"].sizes(), torch::IntArrayRef({320, 960, 1, 1}));
  EXPECT_TRUE(net->named_buffers().contains("features.0.1.num_batches_tracked"));
}

TEST(MobileNetV2Encoder, WidthMultiplierRoundsAsTorchvision) {
  EXPECT_EQ(make_divisible(32 * 0.5), 16);
  EXPECT_EQ(make_divisible(16 * 0.35), 8);  // never below the divisor
  EXPECT_EQ(make_divisible(24 * 0.35), 8);  // 8.4 -> 8
  EXPECT_EQ(make_divisible(96 * 0.75), 72);
  EXPECT_EQ(make_divisible(160 * 1.3), 208);  // 208 exactly
  EXPECT_EQ(make_divisible(20.0), 24);        // 16 would be > 10% below 20
  MobileNetV2 half(MobileNetV2Options(3).width(0.5));
  EXPECT_EQ(half->out_dim(), 1280);  // the last layer never shrinks
  EXPECT_EQ(half->named_parameters()["features.0.0.weight"].size(0), 16);
  MobileNetV2 wide(MobileNetV2Options(3).width(1.4));
  EXPECT_EQ(wide->out_dim(), 1792);
}

TEST(MobileNetV2Encoder, SamePaddingShiftsStrideTwoWindows) {
  // A stride-2 3x3 depthwise convolution with all-ones weights on an even-sized ramp: SAME pads
  // nothing before and one pixel after, so output (0, 0) sums rows and columns 0..2 (symmetric
  // padding: -1..1).
  auto x = torch::arange(16, torch::kFloat).reshape({1, 1, 4, 4});
  auto same = pad_same(x, 3, 2);
  EXPECT_EQ(same.sizes(), torch::IntArrayRef({1, 1, 5, 5}));
  auto w = torch::ones({1, 1, 3, 3});
  auto y = torch::conv2d(same, w, {}, 2);
  EXPECT_EQ(y.sizes(), torch::IntArrayRef({1, 1, 2, 2}));
  EXPECT_FLOAT_EQ(y[0][0][0][0].item<float>(), 0 + 1 + 2 + 4 + 5 + 6 + 8 + 9 + 10);
  EXPECT_FLOAT_EQ(y[0][0][1][1].item<float>(), 10 + 11 + 14 + 15);  // the zero row and column
  EXPECT_TRUE(torch::equal(pad_same(x, 3, 1), torch::constant_pad_nd(x, {1, 1, 1, 1})));
  auto odd = torch::ones({1, 1, 5, 5});
  EXPECT_EQ(pad_same(odd, 3, 2).sizes(), torch::IntArrayRef({1, 1, 7, 7}));  // 1 before, 1 after
}

// The real pretrained network against PyTorch, for one padding.
void expect_parity(const std::string& padding, const std::string& prefix) {
  MMFUSE_REQUIRE(mmfuse::testing::missing_pretrained_reference());
  const std::string file = mmfuse::testing::pretrained_dir() + "/mobilenet_v2_imagenet.safetensors";
  EncoderContext ctx;
  ctx.input_shape = {3, 224, 224};
  auto cfg =
      mmfuse::testing::block_config("type: mobilenet_v2\npadding: " + padding +
                                    "\npretrained: {file: " + file + ", exclude: [classifier.]}");
  EncoderBlock enc = make_encoder(ctx, cfg);
  enc.module()->eval();
  torch::NoGradGuard no_grad;
  const auto x = mmfuse::testing::reference_tensor("mobilenet.input");
  const auto out = enc->encode({x, torch::ones({x.size(0)}, torch::kBool), {}});
  const double features =
      max_abs_diff(out.pooled, mmfuse::testing::reference_tensor(prefix + ".features"));
  const auto weights = load_safetensors(file).tensors;
  const auto logits =
      torch::linear(out.pooled, weights.at("classifier.1.weight"), weights.at("classifier.1.bias"));
  const double scores = max_abs_diff(logits, mmfuse::testing::reference_tensor(prefix + ".logits"));
  std::cout << "mobilenet_v2 padding " << padding << ": max |diff| features " << features
            << ", logits " << scores << "\n";
  EXPECT_LE(features, 1e-4);
  EXPECT_LE(scores, 1e-4);
}

TEST(MobileNetV2Encoder, PretrainedParityWithTorchvisionSymmetricPadding) {
  expect_parity("symmetric", "mobilenet");
}

TEST(MobileNetV2Encoder, PretrainedParityWithTensorFlowSamePadding) {
  expect_parity("same", "mobilenet_same");
}

TEST(MobileNetV2Encoder, FoldedInferenceEqualsConvThenBatchNorm) {
  // Eval without autograd runs folded oneDNN convolutions; with autograd, conv -> bn. Running
  // statistics moved away from the identity by a few training batches must give the same output.
  torch::manual_seed(3);
  MobileNetV2 net(MobileNetV2Options(3).width(0.35).padding(Padding::same));
  net->train();
  for (int i = 0; i < 3; ++i) net->feature_map(torch::randn({4, 3, 40, 36}));
  net->eval();
  const auto x = torch::randn({2, 3, 40, 36});
  const auto plain = net->feature_map(x).detach();  // autograd on: conv -> bn
  torch::Tensor folded;
  {
    torch::NoGradGuard no_grad;
    folded = net->feature_map(x);
  }
  EXPECT_EQ(folded.sizes(), torch::IntArrayRef({2, 1280, 2, 2}));
  EXPECT_LE(max_abs_diff(folded, plain), 1e-4 * (1 + plain.abs().max().item<double>()));
}

}  // namespace
}  // namespace mmfuse::encoders
