// torchvision's residual blocks, with its parameter names: BasicBlock (resnet18/34) and
// Bottleneck (resnet50 and deeper, torchvision's v1.5: the stride on the 3x3 convolution).
#pragma once

#include <torch/torch.h>

namespace mmfuse::encoders {

struct ResidualBlockOptions {
  ResidualBlockOptions(int64_t in_channels, int64_t channels)
      : in_channels_(in_channels), channels_(channels) {}
  /// Channels coming in.
  TORCH_ARG(int64_t, in_channels);
  /// Width of the block (its 3x3 convolutions); it puts out channels * expansion.
  TORCH_ARG(int64_t, channels);
  /// Stride of the 3x3 convolution (2 halves H and W).
  TORCH_ARG(int64_t, stride) = 1;
};

/// downsample.0 (1x1 conv, stride) + downsample.1 (batch norm) when the shape changes, else null.
torch::nn::Sequential make_downsample(int64_t in, int64_t out, int64_t stride);

/// torchvision's BasicBlock: relu(bn2(conv2(relu(bn1(conv1(x))))) + downsample(x)).
class BasicBlockImpl : public torch::nn::Cloneable<BasicBlockImpl> {
 public:
  static constexpr int64_t kExpansion = 1;
  explicit BasicBlockImpl(ResidualBlockOptions options) : options(std::move(options)) { reset(); }
  void reset() override;
  /// x [B, C_in, H, W] -> [B, C, H / stride, W / stride]
  torch::Tensor forward(const torch::Tensor& x);

  ResidualBlockOptions options;
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
  torch::nn::Sequential downsample{nullptr};
};
TORCH_MODULE(BasicBlock);

/// torchvision's Bottleneck: 1x1 (C) -> 3x3 (C, stride) -> 1x1 (4C), each with batch norm, plus
/// downsample(x), then relu.
class BottleneckImpl : public torch::nn::Cloneable<BottleneckImpl> {
 public:
  static constexpr int64_t kExpansion = 4;
  explicit BottleneckImpl(ResidualBlockOptions options) : options(std::move(options)) { reset(); }
  void reset() override;
  /// x [B, C_in, H, W] -> [B, 4C, H / stride, W / stride]
  torch::Tensor forward(const torch::Tensor& x);

  ResidualBlockOptions options;
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  torch::nn::Sequential downsample{nullptr};
};
TORCH_MODULE(Bottleneck);

}  // namespace mmfuse::encoders
