// ResNet: torchvision resnet18 parameter names and sizes (so its weights load), output sizes of
// both stems.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "mmfuse/nn/encoders/resnet.h"
#include "nn/conformance_util.h"

namespace mmfuse::encoders {
namespace {

// torchvision.models.resnet18().named_parameters(), in order, without fc.weight and fc.bias.
const std::vector<std::string> kTorchvisionResnet18 = {"conv1.weight",
                                                       "bn1.weight",
                                                       "bn1.bias",
                                                       "layer1.0.conv1.weight",
                                                       "layer1.0.bn1.weight",
                                                       "layer1.0.bn1.bias",
                                                       "layer1.0.conv2.weight",
                                                       "layer1.0.bn2.weight",
                                                       "layer1.0.bn2.bias",
                                                       "layer1.1.conv1.weight",
                                                       "layer1.1.bn1.weight",
                                                       "layer1.1.bn1.bias",
                                                       "layer1.1.conv2.weight",
                                                       "layer1.1.bn2.weight",
                                                       "layer1.1.bn2.bias",
                                                       "layer2.0.conv1.weight",
                                                       "layer2.0.bn1.weight",
                                                       "layer2.0.bn1.bias",
                                                       "layer2.0.conv2.weight",
                                                       "layer2.0.bn2.weight",
                                                       "layer2.0.bn2.bias",
                                                       "layer2.0.downsample.0.weight",
                                                       "layer2.0.downsample.1.weight",
                                                       "layer2.0.downsample.1.bias",
                                                       "layer2.1.conv1.weight",
                                                       "layer2.1.bn1.weight",
                                                       "layer2.1.bn1.bias",
                                                       "layer2.1.conv2.weight",
                                                       "layer2.1.bn2.weight",
                                                       "layer2.1.bn2.bias",
                                                       "layer3.0.conv1.weight",
                                                       "layer3.0.bn1.weight",
                                                       "layer3.0.bn1.bias",
                                                       "layer3.0.conv2.weight",
                                                       "layer3.0.bn2.weight",
                                                       "layer3.0.bn2.bias",
                                                       "layer3.0.downsample.0.weight",
                                                       "layer3.0.downsample.1.weight",
                                                       "layer3.0.downsample.1.bias",
                                                       "layer3.1.conv1.weight",
                                                       "layer3.1.bn1.weight",
                                                       "layer3.1.bn1.bias",
                                                       "layer3.1.conv2.weight",
                                                       "layer3.1.bn2.weight",
                                                       "layer3.1.bn2.bias",
                                                       "layer4.0.conv1.weight",
                                                       "layer4.0.bn1.weight",
                                                       "layer4.0.bn1.bias",
                                                       "layer4.0.conv2.weight",
                                                       "layer4.0.bn2.weight",
                                                       "layer4.0.bn2.bias",
                                                       "layer4.0.downsample.0.weight",
                                                       "layer4.0.downsample.1.weight",
                                                       "layer4.0.downsample.1.bias",
                                                       "layer4.1.conv1.weight",
                                                       "layer4.1.bn1.weight",
                                                       "layer4.1.bn1.bias",
                                                       "layer4.1.conv2.weight",
                                                       "layer4.1.bn2.weight",
                                                       "layer4.1.bn2.bias"};

TEST(ResNetEncoder, DefaultHasTorchvisionResnet18Names) {
  ResNet net(ResNetOptions(3));
  std::vector<std::string> names;
  int64_t count = 0;
  for (const auto& p : net->named_parameters()) {
    names.push_back(p.key());
    count += p.value().numel();
  }
  EXPECT_EQ(names, kTorchvisionResnet18);
  // resnet18 has 11,689,512 parameters, of which fc holds 512 * 1000 + 1000.
  EXPECT_EQ(count, 11689512 - 513000);
  auto params = net->named_parameters();
  EXPECT_EQ(params["conv1.weight"].sizes(), torch::IntArrayRef({64, 3, 7, 7}));
  EXPECT_EQ(params["layer2.0.downsample.0.weight"].sizes(), torch::IntArrayRef({128, 64, 1, 1}));
  EXPECT_EQ(params["layer4.1.conv2.weight"].sizes(), torch::IntArrayRef({512, 512, 3, 3}));
  auto buffers = net->named_buffers();
  EXPECT_TRUE(buffers.contains("layer3.0.downsample.1.running_var"));
  EXPECT_TRUE(buffers.contains("bn1.num_batches_tracked"));
  EXPECT_EQ(net->out_dim(), 512);
  EXPECT_EQ(net->token_dim(), 512);
}

TEST(ResNetEncoder, OutputSizesOfBothStems) {
  torch::NoGradGuard no_grad;
  // 64x64, conv7x7/s2 + max-pool: 16x16 after the stem, 2x2 after three stride-2 stages.
  ResNet large(ResNetOptions(3).base_width(8));
  large->eval();
  auto out = large->encode({torch::rand({2, 3, 64, 64}), torch::ones({2}, torch::kBool), {}});
  EXPECT_EQ(out.pooled.sizes(), torch::IntArrayRef({2, 64}));
  EXPECT_EQ(out.tokens.sizes(), torch::IntArrayRef({2, 4, 64}));
  EXPECT_LE(mmfuse::testing::max_abs_diff(out.pooled, out.tokens.mean(1)), 1e-6);

  // 28x28 small stem, three stages of width 4, 8, 16: 28 -> 14 -> 7.
  ResNet small(ResNetOptions(1).base_width(4).blocks({1, 1, 1}).small_input(true));
  small->eval();
  out = small->encode({torch::rand({2, 1, 28, 28}), torch::ones({2}, torch::kBool), {}});
  EXPECT_EQ(small->out_dim(), 16);
  EXPECT_EQ(out.pooled.sizes(), torch::IntArrayRef({2, 16}));
  EXPECT_EQ(out.tokens.sizes(), torch::IntArrayRef({2, 49, 16}));
  EXPECT_FALSE(small->named_parameters().contains("layer1.0.downsample.0.weight"));
  EXPECT_TRUE(small->named_parameters().contains("layer3.0.downsample.0.weight"));
}

}  // namespace
}  // namespace mmfuse::encoders
