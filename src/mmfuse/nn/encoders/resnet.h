// ResNet in torchvision's layout and names (conv1, bn1, layer1.0.conv1, ...,
// layer2.0.downsample.0/1, fc), so a torchvision resnet18/34/50 checkpoint converted to
// safetensors loads as is:
//
//   image: {type: resnet, arch: resnet50, classes: 1000, pretrained: {file: resnet50.safetensors}}
//
// arch presets the blocks (resnet18: BasicBlock [2, 2, 2, 2]; resnet34: BasicBlock [3, 4, 6, 3];
// resnet50: Bottleneck [3, 4, 6, 3]); base_width, blocks and small_input still apply (the small
// ResNet for 28x28 digits is `blocks: [1, 1, 1], base_width: 4, small_input: true`). Without
// `classes` there is no fc: load a full checkpoint with `exclude: [fc.]`.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "mmfuse/nn/encoders/config_enum.h"
#include "mmfuse/nn/encoders/encoder.h"
#include "mmfuse/nn/encoders/resnet_blocks.h"

namespace mmfuse::encoders {

enum class ResidualBlock { basic, bottleneck };

/// The one string table of ResidualBlock.
inline const EnumNames<ResidualBlock>& residual_block_names() {
  static const EnumNames<ResidualBlock> names = {{ResidualBlock::basic, "basic"},
                                                 {ResidualBlock::bottleneck, "bottleneck"}};
  return names;
}

struct ResNetOptions {
  explicit ResNetOptions(int64_t in_channels) : in_channels_(in_channels) {}
  /// Channels of the input image.
  TORCH_ARG(int64_t, in_channels);
  /// Channels of the stem and the first stage's blocks; each later stage doubles them (64 as
  /// torchvision).
  TORCH_ARG(int64_t, base_width) = 64;
  /// Blocks per stage ({2, 2, 2, 2} = ResNet-18); stage i > 1 starts with stride 2.
  TORCH_ARG(std::vector<int64_t>, blocks) = std::vector<int64_t>{2, 2, 2, 2};
  /// basic: two 3x3 convolutions (resnet18/34); bottleneck: 1x1-3x3-1x1, 4x wider output.
  TORCH_ARG(ResidualBlock, block) = ResidualBlock::basic;
  /// true: conv3x3/s1 stem without max-pool (small images such as 28x28 or 32x32);
  /// false: torchvision's conv7x7/s2 + max-pool 3x3/s2.
  TORCH_ARG(bool, small_input) = false;
  /// > 0: torchvision's classifier `fc` [classes, D]; pooled is then its logits [B, classes].
  TORCH_ARG(int64_t, classes) = 0;
};

/// ResNetOptions of torchvision's "resnet18", "resnet34" or "resnet50"; throws Error listing
/// them for another name.
ResNetOptions resnet_arch(const std::string& arch, int64_t in_channels);

class ResNetImpl : public torch::nn::Cloneable<ResNetImpl>, public Encoder {
 public:
  static constexpr const char* kName = "resnet";
  static constexpr const char* kDescription =
      "ResNet-18/34/50 (torchvision names; basic or bottleneck blocks), global average pool";

  explicit ResNetImpl(ResNetOptions options) : options(std::move(options)) { reset(); }

  /// Keys: arch (resnet18|resnet34|resnet50), base_width, blocks (list per stage), block
  /// (basic|bottleneck), small_input (bool), classes (0: no fc).
  static std::shared_ptr<ResNetImpl> create(const EncoderContext& ctx, const ConfigNode& cfg);

  void reset() override;

  /// image [B, C, H, W] -> final map [B, D, H', W']
  torch::Tensor feature_map(const torch::Tensor& image);

  /// image [B, C, H, W] -> pooled [B, D] (global average; with fc: logits [B, classes]),
  /// tokens [B, H'*W', D]
  nn::Encoded encode(const data::ModalityBatch& input) override;

  /// D of the final feature map (512 for resnet18/34, 2048 for resnet50).
  int64_t feature_dim() const;
  int64_t out_dim() const override {
    return options.classes() > 0 ? options.classes() : feature_dim();
  }
  int64_t token_dim() const override { return feature_dim(); }

  ResNetOptions options;
  torch::nn::Conv2d conv1{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr};
  torch::nn::Linear fc{nullptr};

 private:
  std::vector<torch::nn::Sequential> stages_;
};
TORCH_MODULE(ResNet);

}  // namespace mmfuse::encoders
